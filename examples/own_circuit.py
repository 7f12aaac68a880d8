# %% [markdown]
# # Your own circuit through the alpha sweep and the unlearning
#
# A TensorCircuit-NG circuit function becomes a model with `from_circuit(fn, param_shape, n_qubits)`: the
# circuit starts in the amplitude-encoded input state and is read out as qunlearn's QNN is. It then runs
# through every experiment (but the noise part, whose noise is built into qunlearn's own ansaetze).

# %%
import os

import qunlearn as ql
from qunlearn.models import from_circuit

tiny = os.environ.get("QUNLEARN_EXAMPLES_TINY") == "1"
N_QUBITS, LAYERS = 10, 1 if tiny else 3  # MNIST is amplitude-encoded on 10 qubits


def ansatz(c, params):
    """RY on every qubit, then a CNOT ladder; `params` has shape (LAYERS, N_QUBITS)."""
    for layer in range(params.shape[0]):
        for q in range(N_QUBITS):
            c.ry(q, theta=params[layer, q])
        for q in range(N_QUBITS - 1):
            c.cnot(q, q + 1)


mine = from_circuit(ansatz, (LAYERS, N_QUBITS), N_QUBITS, name="ry-ladder")
models = {"ry-ladder": mine, "qnn": "qnn", "mlp": "mlp"}  # yours beside the paper's QNN and the MLP
if tiny:
    del models["qnn"]

# %% [markdown]
# The alpha sweep (Figure 2) with the three models:

# %%
sizes = dict(alphas=[0, 0.3], runs=1, epochs=2, data_options={"n_per_class": 20}) if tiny else {}
sweep = ql.run("poison", preset="quick", out="runs/own-circuit", models=models, attacks=["label-flip"], **sizes)
sweep.figure("figure2").savefig("own-circuit-figure2.png", bbox_inches="tight")

# %% [markdown]
# And unlearning the poison (Figure 3): retrain is the oracle, finetune and SCRUB the approximate methods.

# %%
sizes = dict(runs=1, epochs=1, train_epochs=2, data_options={"n_per_class": 20}) if tiny else {}
methods = ["retrain", "finetune"] if tiny else ["retrain", "finetune", "scrub"]
unlearn = ql.run("unlearn", preset="quick", out="runs/own-circuit-unlearn", models=models, methods=methods, **sizes)
unlearn.figure("figure3").savefig("own-circuit-figure3.png", bbox_inches="tight")
unlearn.results.query("metric == 'forget_poison_acc'").groupby(["model", "method"])["value"].mean()
