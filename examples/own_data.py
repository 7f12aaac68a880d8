# %% [markdown]
# # Your own data through `from_arrays`
#
# Any binary classification data: two classes labelled 0 and 1, features amplitude-encoded for you (padded to a
# power of two and normalised) or, with `encoding="encoded"`, states you encoded yourself. Here: scikit-learn's
# breast-cancer data (30 features, so 5 qubits).

# %%
import os

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import qunlearn as ql
from qunlearn.data import from_arrays

tiny = os.environ.get("QUNLEARN_EXAMPLES_TINY") == "1"
x, y = load_breast_cancer(return_X_y=True)
x = StandardScaler().fit_transform(x)
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
ds = from_arrays(x_train, y_train, x_val, y_val, name="breast-cancer")
print(ds.summary())

# %% [markdown]
# Every experiment takes it as `dataset=`; the preset's MNIST schedules apply. (From the command line: save the
# four arrays with `numpy.savez("mine.npz", x_train=..., y_train=..., x_val=..., y_val=...)` and pass
# `--dataset mine.npz`.)

# %%
sizes = dict(alphas=[0, 0.3], runs=1, epochs=2) if tiny else dict(alphas=[0, 0.1, 0.2, 0.3, 0.4, 0.5])
run = ql.run("poison", preset="quick", dataset=ds, out="runs/own-data", models=["qnn", "mlp"], **sizes)
run.figure("figure2").savefig("own-data-figure2.png", bbox_inches="tight")
run.results.query("metric == 'val_acc'").groupby(["model", "attack", "alpha"])["value"].mean().unstack("alpha")
