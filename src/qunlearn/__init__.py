"""qunlearn: poisoning resilience and machine unlearning of quantum neural networks.

A reproduction and extension of Chen & Zhang, "Superior resilience to poisoning
and amenability to unlearning in quantum machine learning" (arXiv:2508.02422).
"""

__version__ = "0.1.0"
