r"""Device noise for the QNNs: Pauli and damping channels as Monte Carlo trajectories, readout error, finite shots.

A :class:`NoiseModel` is a field of a QNN (``QNN(..., noise=NoiseModel(...))``);
the circuit is simulated as state-vector trajectories, never as a density
matrix, so a noisy QNN costs ``trajectories`` times a noiseless one and
nothing more. Per layer of either ansatz, in this order:

1. the two-qubit depolarizing errors left by the previous layer's ring (see 5);
2. the layer's single-qubit rotations;
3. single-qubit depolarizing on every qubit,
   :math:`\rho \to (1-p_1)\rho + \tfrac{p_1}{3}(X\rho X + Y\rho Y + Z\rho Z)`
   (``tc.channels.generaldepolarizingchannel(p1 / 3, 1)``);
4. amplitude damping on every qubit, Kraus operators
   :math:`K_0 = \mathrm{diag}(1, \sqrt{1-\gamma})`, :math:`K_1 = \sqrt\gamma\,|0\rangle\langle 1|`
   (``tc.channels.amplitudedampingchannel(gamma, 1)``);
5. the entangling ring (RZZ or CNOT), then two-qubit depolarizing on every ring
   pair :math:`(i, i+1 \bmod L)`,
   :math:`\rho \to (1-p_2)\rho + \tfrac{p_2}{15}\sum_{P \ne II} P\rho P`
   (``tc.channels.generaldepolarizingchannel(p2 / 15, 2)``).

Then :math:`\langle Z_{L-1}\rangle` is read out, each measured bit flips with
probability ``readout`` (:math:`\langle Z\rangle \to (1 - 2r)\langle Z\rangle`),
and with ``shots = N`` the output is the mean of N measured :math:`\pm 1`
outcomes (a binomial draw with the exact noisy probability), not the exact
expectation.

How it is simulated (the same channels, sampled so that nothing costs an extra
pass over the state):

* every Pauli error is a 2x2 matrix multiplied into the qubit's fused rotation
  block, and the errors after the ring are carried into the next layer's block
  (the pair channels of step 5 commute with each other, and a product of
  Paulis is a Pauli up to a phase); after the last ring, an X or Y on the
  readout qubit flips the sign of :math:`\langle Z_{L-1}\rangle`;
* amplitude damping is state dependent; each qubit's Kraus operator is drawn
  from a fixed proposal (jump with probability :math:`\gamma/2`) and weighted
  by :math:`1/\sqrt{q_k}`, so the trajectory mean of the (unnormalised)
  :math:`\langle Z\rangle` is an unbiased estimate of the exact density-matrix
  value, and so is its gradient (no draw depends on the parameters);
* trajectories are a ``jax.vmap`` inside the model's scanned program, each with
  its own draws from the ``key`` given to ``apply``;
* shots use the straight-through estimator: the forward value is the shot
  estimate, the gradient that of the exact expectation it estimates.

The tests check every channel against ``tc.DMCircuit`` on 3 to 5 qubits
(within the trajectory mean's standard error) and the shot outputs against the
binomial mean and variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .errors import InputError

MAX_TRAJECTORIES = 100_000
MAX_SHOTS = 10**9
PROBABILITIES = ("p1", "p2", "gamma", "readout")

# Pauli index 2x + z: 0 = I, 1 = Z, 2 = X, 3 = Y; a product of two Paulis is, up to a phase, the XOR of the indices.
PAULI = np.array([[[1, 0], [0, 1]], [[1, 0], [0, -1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]]], dtype=np.complex128)


def _probability(value: Any, name: str, most: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"noise {name} must be a probability in [0, {most:g}], got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= most:
        raise InputError(f"noise {name} must be a probability in [0, {most:g}], got {value!r}")
    return v


def check_count(value: Any, name: str, most: int) -> int:
    """A positive whole number (an int, or a float with no fraction; never a string or a bool) up to ``most``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer, float, np.floating))
    if ok and isinstance(value, (float, np.floating)):
        ok = math.isfinite(value) and float(value).is_integer()
    if not ok or not 1 <= int(value) <= most:
        raise InputError(f"{name} must be a positive integer (at most {most:,}), got {value!r}")
    return int(value)


@dataclass(frozen=True)
class NoiseModel:
    """Noise of a QNN on a device (see the module docstring for where each channel acts).

    ``p1``: single-qubit depolarizing probability after the rotations of every
    layer; ``p2``: two-qubit depolarizing probability on every ring pair after
    the ring; ``gamma``: amplitude damping of every qubit in every layer;
    ``readout``: probability that a measured bit is flipped (at most 0.5);
    ``shots``: measurements per output (``None``: the exact expectation);
    ``trajectories``: Monte Carlo trajectories averaged per output;
    ``train_trajectories``: those of the training and unlearning steps (``None``: ``trajectories``):
    a minibatch gradient already averages over samples, so a few trajectories
    give an unbiased gradient at a fraction of the cost, while the metrics keep
    ``trajectories``.
    """

    p1: float = 0.0
    p2: float = 0.0
    gamma: float = 0.0
    readout: float = 0.0
    shots: int | None = None
    trajectories: int = 1
    train_trajectories: int | None = None

    def __post_init__(self):
        for name in ("p1", "p2", "gamma"):
            object.__setattr__(self, name, _probability(getattr(self, name), name))
        object.__setattr__(self, "readout", _probability(self.readout, "readout", 0.5))
        if self.shots is not None:
            object.__setattr__(self, "shots", check_count(self.shots, "noise shots", MAX_SHOTS))
        object.__setattr__(self, "trajectories", check_count(self.trajectories, "noise trajectories", MAX_TRAJECTORIES))
        if self.train_trajectories is not None:
            object.__setattr__(self, "train_trajectories",
                               check_count(self.train_trajectories, "noise train_trajectories", MAX_TRAJECTORIES))

    @property
    def has_channels(self) -> bool:
        """Whether any channel acts inside the circuit (then outputs are trajectory means)."""
        return self.p1 > 0 or self.p2 > 0 or self.gamma > 0

    @property
    def stochastic(self) -> bool:
        """Whether outputs are random (trajectories or shots): ``apply`` then needs a key."""
        return self.has_channels or self.shots is not None

    @property
    def exact(self) -> bool:
        """No noise at all: the model computes exactly what the noiseless one does."""
        return not self.stochastic and self.readout == 0

    @property
    def runs(self) -> int:
        """State-vector simulations per output: ``trajectories`` with channels, else 1."""
        return self.trajectories if self.has_channels else 1

    @property
    def train_runs(self) -> int:
        """State-vector simulations per sample in a training step."""
        return (self.train_trajectories or self.trajectories) if self.has_channels else 1

    def for_training(self) -> "NoiseModel":
        """The same noise with the training steps' trajectories."""
        from dataclasses import replace

        return replace(self, trajectories=self.train_trajectories or self.trajectories, train_trajectories=None)

    def describe(self) -> str:
        parts = [f"{k} {getattr(self, k):g}" for k in PROBABILITIES if getattr(self, k) > 0]
        if self.has_channels:
            parts.append(f"{self.trajectories} trajectories" + (
                "" if self.train_runs == self.trajectories else f" ({self.train_runs} in training steps)"))
        parts.append("exact readout" if self.shots is None else f"{self.shots} shots")
        return ", ".join(parts) if parts else "noiseless"

    def to_dict(self) -> dict[str, Any]:
        """Plain fields; ``shots`` is left out when exact (TOML has no null)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, d: Any) -> "NoiseModel":
        if isinstance(d, NoiseModel):
            return d
        if not isinstance(d, dict):
            raise InputError(f"noise must be a table such as {{p1 = 0.01, trajectories = 16}}, got {d!r}")
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(allowed))
        if unknown:
            raise InputError(f"noise has no field {unknown[0]!r} (its fields: {', '.join(allowed)})")
        return cls(**d)


def standard_error(values) -> float:
    """Standard error of the mean of ``values`` (sample standard deviation / sqrt(n))."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else math.nan


def shot_expectation(z, shots: int, rng: np.random.Generator) -> np.ndarray:
    """A device's estimate of ``<Z>`` from ``shots`` measurements: ``2 k / N - 1``, ``k ~ Binomial(N, (1 + z) / 2)``
    (NumPy, for post-hoc analysis of exact outputs)."""
    z = np.asarray(z, dtype=np.float64)
    prob = np.clip((1.0 + z) / 2.0, 0.0, 1.0)
    return 2.0 * rng.binomial(int(shots), prob) / shots - 1.0


# ------------------------------------------------------------------ JAX pieces used by the circuit models


def draw(noise: NoiseModel, key, shape: tuple[int, ...]) -> dict:
    """Every random choice of ``shape`` trajectories (e.g. ``(batch, K, depth, n_qubits)``), channel by channel.

    ``pauli1``: the Pauli after each qubit's rotations; ``jump``: 1 where the damping's jump
    operator acts; ``pauli2``: the two-qubit Pauli (index ``4 a + b``, ``a`` on qubit i, ``b`` on
    i+1) on each ring pair. A channel that is off draws nothing."""
    import jax
    import jax.numpy as jnp

    k1, k2, k3 = jax.random.split(key, 3)
    out = {}
    if noise.p1 > 0:
        cdf = jnp.array(np.cumsum([1 - noise.p1, noise.p1 / 3, noise.p1 / 3]))
        out["pauli1"] = jnp.searchsorted(cdf, jax.random.uniform(k1, shape), side="right").astype(jnp.int32)
    if noise.gamma > 0:
        out["jump"] = jax.random.bernoulli(k2, noise.gamma / 2, shape).astype(jnp.int32)
    if noise.p2 > 0:
        hit = jax.random.bernoulli(k3, noise.p2, shape)
        which = jax.random.randint(jax.random.fold_in(k3, 1), shape, 1, 16)
        out["pauli2"] = jnp.where(hit, which, 0).astype(jnp.int32)
    return out


def damping_kraus(gamma: float) -> np.ndarray:
    """The two amplitude-damping Kraus operators, each divided by the square root of its proposal probability."""
    q = gamma / 2
    k0 = np.array([[1, 0], [0, np.sqrt(1 - gamma)]]) / np.sqrt(1 - q)
    k1 = np.array([[0, np.sqrt(gamma)], [0, 0]]) / np.sqrt(q)
    return np.stack([k0, k1]).astype(np.complex128)


def ring_paulis(pauli2):
    """Per qubit, the Pauli (index, up to a phase) the ring-pair errors ``pauli2`` (shape ``(n,)``, pair ``i`` on
    qubits ``i`` and ``i + 1 mod n``) leave on it."""
    import jax.numpy as jnp

    a, b = pauli2 // 4, pauli2 % 4  # pair i acts with a on qubit i and b on qubit i + 1
    return jnp.bitwise_xor(a, jnp.roll(b, 1))
