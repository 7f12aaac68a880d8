# %% [markdown]
# # Figure 2 in a dozen lines
#
# The noise-ratio sweep of the paper (Chen and Zhang, arXiv:2508.02422): a QNN and an MLP trained on MNIST 1
# vs 9 whose labels are flipped (or whose features are randomised) at a growing ratio alpha. The quick preset
# takes minutes on a laptop; `preset="paper"` has the paper's settings. `QUNLEARN_EXAMPLES_TINY=1` (what the
# tests set) shrinks it to seconds.

# %%
import os

import qunlearn as ql

tiny = os.environ.get("QUNLEARN_EXAMPLES_TINY") == "1"
sizes = dict(alphas=[0, 0.3, 0.6], runs=1, epochs=2, models=["qnn", "mlp"],
             data_options={"n_per_class": 30}) if tiny else {}

run = ql.run("poison", preset="quick", dataset="mnist", out="runs/figure2", **sizes)
fig = run.figure("figure2")  # a matplotlib Figure; in a notebook it shows inline
fig.savefig("figure2.png", bbox_inches="tight")

# %% [markdown]
# The tidy table behind it, one row per (model, attack, alpha, run, metric):

# %%
run.results.query("metric == 'val_acc'").groupby(["model", "attack", "alpha"])["value"].mean().unstack("alpha")
