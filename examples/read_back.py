# %% [markdown]
# # A finished run, read back and re-plotted
#
# `ql.load(directory)` reads any run directory (one experiment's or a whole `reproduce` study, finished or
# not) without computing anything: its tables, its figures rebuilt from them, and the paper's claims tested on
# its numbers.

# %%
import os

import qunlearn as ql

tiny = os.environ.get("QUNLEARN_EXAMPLES_TINY") == "1"
if not os.path.exists("runs/figure2/config.json"):  # made by figure2.py; here at its quick size
    sizes = dict(alphas=[0, 0.3, 0.6], runs=1, epochs=2, models=["qnn", "mlp"],
                 data_options={"n_per_class": 30}) if tiny else {}
    ql.run("poison", preset="quick", dataset="mnist", out="runs/figure2", quiet=True, **sizes)

run = ql.load("runs/figure2")
print(run, run.figure_names())
for claim in run.claims:
    print(claim.id, {True: "held", False: "not held", None: "not tested"}[claim.held], "-", claim.evidence)

# %% [markdown]
# Re-plot from the tidy table: the gap between training accuracy on the poisoned labels and validation
# accuracy, per model (memorisation shows as a large gap).

# %%
from matplotlib.figure import Figure

res = run.results.query("attack == 'label-flip'")
mean = res.groupby(["model", "metric", "alpha"])["value"].mean()
fig = Figure(figsize=(5, 3.5), layout="constrained")
ax = fig.subplots()
for model in sorted(res["model"].unique()):
    gap = mean[model, "train_acc"] - mean[model, "val_acc"]
    ax.plot(gap.index, gap.values, "o-", label=model)
ax.set(xlabel="noise ratio alpha", ylabel="train acc (poisoned) - val acc", title="memorisation gap")
ax.legend()
fig.savefig("memorisation-gap.png")
