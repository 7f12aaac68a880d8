"""The built-in experiments of the study, one declaration each (see :mod:`qunlearn.registry`)."""
