r"""Quantum neural networks on TensorCircuit-NG.

Both ansätze act on an amplitude-encoded input state :math:`|x\rangle` of
:math:`L` qubits (qubit 0 is the most significant bit of the amplitude index)
and read out

.. math:: p(y=1 \mid x) = \sigma\big(s \, \langle x | W^\dagger Z_{q} W | x \rangle\big),

with :math:`q = L-1` and :math:`s = 5` by default.

How the circuit is evaluated (the same unitary as the gate list, built faster):

* layers go through ``jax.lax.scan``, so compile time does not grow with depth;
* the single-qubit rotations of a layer act on different qubits and commute, so
  each group of at most :data:`BLOCK_QUBITS` neighbouring qubits gets one fused
  block unitary (a Kronecker product of 2x2 matrices) applied with
  ``Circuit.any``: two block contractions per layer at 10 qubits (32x32 blocks),
  three at 12 (16x16), instead of ``3 L`` gate contractions. Applying each
  qubit's 2x2 gate on its own does a third of the multiply-adds but was twice as
  slow on CPU (every gate is a pass over the state), and one block per half at
  12 qubits (64x64) 20% slower (``benchmarks/README.md``);
* the RZZ ring is diagonal, so it is applied exactly as one phase vector
  :math:`\exp(-\tfrac{i}{2}\sum_i t_i z_i z_{i+1})` over the computational basis;
* the batch is ``jax.vmap``-ed over single-state circuits;
* light cone of the readout (paper ansatz): in the last layer the RZZ ring is
  diagonal and commutes with the measured :math:`Z_{L-1}`, and the rotations
  on the other qubits are unitaries on the traced-out part, so neither can
  change the output. The last layer is therefore only the readout qubit's
  rotation, applied to its 2x2 reduced density matrix (exactly the same
  output; tested against the full circuit and the gate-by-gate simulation).

Both ansätze are small subclasses of :class:`CircuitQNN`, which owns the fields,
validation, initialisation, the layer scan, the batch vmap, the readout and the
noise. An ansatz only declares ``angles_per_qubit``, its single-qubit unitaries
``local(t) -> (n_qubits, 2, 2)`` and its entangling ring ``ring(c, t) -> psi``
(``t`` of shape ``(n_qubits, angles_per_qubit)``). Every dtype comes from the
model's own ``precision`` field (see :mod:`qunlearn.backend`).

With a :class:`qunlearn.noise.NoiseModel` (field ``noise``) the circuit runs as
Monte Carlo trajectories with the noise channels fused into the same blocks,
the readout's light cone is not used (noise on the other qubits reaches it),
and ``apply`` needs a ``key``; a model without noise ignores the key and
computes exactly what it always did.

The test suite checks both models against an independent dense NumPy simulation
built gate by gate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import tensorcircuit as tc

from .. import backend
from .. import noise as noise_mod
from ..errors import InputError

MAX_QUBITS = 24


def _check_qubits(n_qubits: int, depth: int) -> None:
    if not isinstance(n_qubits, (int, np.integer)) or not 2 <= n_qubits <= MAX_QUBITS:
        need = 16 * 2 ** int(n_qubits) if isinstance(n_qubits, (int, np.integer)) and n_qubits > 0 else 0
        raise InputError(
            f"n_qubits must be an integer in [2, {MAX_QUBITS}], got {n_qubits!r}"
            + (f" (one state alone needs {need / 2**30:.1f} GiB)" if need else "")
        )
    if not isinstance(depth, (int, np.integer)) or depth < 1:
        raise InputError(f"circuit depth must be a positive integer, got {depth!r}")


@lru_cache(maxsize=None)
def _z_signs(n: int) -> np.ndarray:
    """(2^n, n) array of Z eigenvalues (+1 for bit 0, -1 for bit 1); qubit 0 is the MSB."""
    idx = np.arange(2**n)[:, None]
    bits = (idx >> (n - 1 - np.arange(n))[None, :]) & 1
    return (1 - 2 * bits).astype(np.int8)


@lru_cache(maxsize=None)
def _zz_ring(n: int) -> np.ndarray:
    """(n, 2^n): row i holds z_i z_{(i+1) mod n} over the computational basis."""
    z = _z_signs(n).astype(np.float64)
    return (z * np.roll(z, -1, axis=1)).T


def _rx(t, dtype):
    c, s = jnp.cos(t / 2), jnp.sin(t / 2)
    return jnp.array([[c, -1j * s], [-1j * s, c]], dtype=dtype)


def _ry(t, dtype):
    c, s = jnp.cos(t / 2), jnp.sin(t / 2)
    return jnp.array([[c, -s], [s, c]], dtype=dtype)


def _kron(mats) -> jax.Array:
    out = mats[0]
    for m in mats[1:]:
        out = jnp.kron(out, m)
    return out


BLOCK_QUBITS = 5  # largest fused block: 32x32 (measured fastest on CPU at 10 and 12 qubits)


def blocks(n: int) -> list[range]:
    """Neighbouring qubit groups of near-equal size, at most :data:`BLOCK_QUBITS` each (larger first)."""
    k = -(-n // BLOCK_QUBITS)
    sizes = [n // k + (i < n % k) for i in range(k)]
    starts = np.cumsum([0] + sizes)
    return [range(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


def _apply_local(c: tc.Circuit, us: jax.Array, n: int) -> None:
    """Apply the per-qubit 2x2 unitaries ``us[i]`` as fused block gates (see :func:`blocks`)."""
    for group in blocks(n):
        c.any(*group, unitary=_kron([us[i] for i in group]))


def _expect_z(psi: jax.Array, n: int, qubit: int, rtype) -> jax.Array:
    z = jnp.asarray(_z_signs(n)[:, qubit], dtype=rtype)
    return jnp.sum((jnp.real(psi) ** 2 + jnp.imag(psi) ** 2) * z)


def _as_states(x: jax.Array, n: int, ctype) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2**n:
        raise InputError(
            f"QNN on {n} qubits expects inputs of shape (batch, {2**n}), got {tuple(x.shape)}; "
            "amplitude-encode the data to 2**n_qubits features"
        )
    return x.astype(ctype)


@dataclass(frozen=True)
class CircuitQNN:
    r"""Shared machinery of the layered QNNs: fields, validation, init, scan, vmap, readout, noise.

    A subclass sets ``angles_per_qubit`` and implements ``local(t)``, the layer's
    single-qubit unitaries (shape ``(n_qubits, 2, 2)``), and ``ring(c, t) -> psi``,
    its entangling gates on the ``tc.Circuit`` ``c`` holding the state after those
    unitaries (dtype :attr:`complex_dtype`); ``t`` are the layer's angles (shape
    ``(n_qubits, angles_per_qubit)``). ``noise`` is an optional
    :class:`qunlearn.noise.NoiseModel`. Parameters have shape
    ``(depth, n_qubits, angles_per_qubit)``, initialised
    :math:`\mathcal N(0, \text{init\_std}^2)`; the output is
    :math:`\sigma(s \langle Z_{L-1} \rangle)` with :math:`s` = ``readout_scale``.
    """

    n_qubits: int = 10
    depth: int = 6
    readout_scale: float = 5.0
    init_std: float = 0.01
    name: str = "qnn"
    precision: str = "complex64"
    noise: noise_mod.NoiseModel | None = None

    angles_per_qubit: ClassVar[int]

    def __post_init__(self):
        if not isinstance(getattr(type(self), "angles_per_qubit", None), int):
            raise TypeError(f"{type(self).__name__} must set the class attribute angles_per_qubit")
        _check_qubits(self.n_qubits, self.depth)
        backend.check_precision(self.precision)
        if self.noise is not None and not isinstance(self.noise, noise_mod.NoiseModel):
            raise InputError(f"noise must be a qunlearn.noise.NoiseModel or None, got {self.noise!r}")
        if self.noise is not None and self.noise.exact:
            object.__setattr__(self, "noise", None)  # no noise at all: the noiseless model, exactly

    @property
    def stochastic(self) -> bool:
        """Whether ``apply`` draws random numbers (noise channels or finite shots): it then needs a key."""
        return self.noise is not None and self.noise.stochastic

    @property
    def complex_dtype(self):
        return backend.dtypes(self.precision)[0]

    @property
    def real_dtype(self):
        return backend.dtypes(self.precision)[1]

    @property
    def param_shape(self) -> tuple[int, int, int]:
        return (self.depth, self.n_qubits, self.angles_per_qubit)

    def local(self, t: jax.Array) -> jax.Array:
        """The layer's single-qubit unitaries, shape ``(n_qubits, 2, 2)``."""
        raise NotImplementedError

    def ring(self, c: tc.Circuit, t: jax.Array) -> jax.Array:
        """The layer's entangling ring on circuit ``c`` (after the single-qubit blocks); returns the state."""
        raise NotImplementedError

    def layer(self, psi: jax.Array, t: jax.Array) -> jax.Array:
        """One layer on a single state: fused single-qubit blocks, then the ring."""
        c = tc.Circuit(self.n_qubits, inputs=psi)
        _apply_local(c, self.local(t), self.n_qubits)
        return self.ring(c, t)

    def init(self, key: jax.Array) -> jax.Array:
        backend.set_precision(self.precision)
        return self.init_std * jax.random.normal(key, self.param_shape, dtype=self.real_dtype)

    def last_layer_expectation(self, psi: jax.Array, t: jax.Array) -> jax.Array:
        """``<Z_{L-1}>`` after the last layer (angles ``t``) on ``psi``.
        The whole layer here; an ansatz may restrict it to the readout's light cone."""
        n = self.n_qubits
        return _expect_z(self.layer(psi, t), n, n - 1, self.real_dtype)

    def apply(self, params: jax.Array, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """``p(y=1|x)`` for a batch ``x``; ``key`` draws the noise of a stochastic model (ignored otherwise)."""
        return self.apply_with_error(params, x, key)[0]

    def apply_with_error(self, params: jax.Array, x: jax.Array, key: jax.Array | None = None):
        """``(p, se)``: :meth:`apply` and the standard error of each measured ``<Z>`` (see :meth:`expectation`)."""
        z, se = self.expectation(params, x, key)
        return jax.nn.sigmoid(self.readout_scale * z), se

    def expectation(self, params: jax.Array, x: jax.Array, key: jax.Array | None = None):
        """``(z, se)``: the measured ``<Z_{L-1}>`` of each state of ``x`` (after readout error and shots) and its
        standard error from the trajectories and shots (0 when exact; NaN from a single trajectory)."""
        backend.set_precision(self.precision)
        states = _as_states(x, self.n_qubits, self.complex_dtype)
        if self.stochastic and key is None:
            raise InputError(f"this QNN is noisy ({self.noise.describe()}): apply(params, x, key) needs a PRNG key")
        if self.noise is None or not self.noise.has_channels:
            z, var = self._exact_expectations(params, states), 0.0
        else:
            z, var = self._trajectory_expectations(params, states, jax.random.fold_in(key, 1))
        return self._measure(z, var, key)

    def for_training(self) -> "CircuitQNN":
        """The model the training and unlearning steps run: the noise model's training trajectories."""
        if self.noise is None or self.noise.train_runs == self.noise.runs:
            return self
        return replace(self, noise=self.noise.for_training())

    def _exact_expectations(self, params, states):
        def step(psi, t):
            return self.layer(psi, t), None

        def single(psi):
            psi, _ = jax.lax.scan(step, psi, params[:-1])
            return self.last_layer_expectation(psi, params[-1])

        return jax.vmap(single)(states)

    def _trajectory_expectations(self, params, states, key):
        """Mean of ``<Z_{L-1}>`` over the noise model's trajectories (see :mod:`qunlearn.noise`)."""
        n, ctype, noise = self.n_qubits, self.complex_dtype, self.noise
        batch, k = states.shape[0], noise.trajectories
        draws = noise_mod.draw(noise, key, (batch, k, self.depth, n))
        pauli = jnp.asarray(noise_mod.PAULI, dtype=ctype)
        damp = jnp.asarray(noise_mod.damping_kraus(noise.gamma), dtype=ctype) if noise.gamma > 0 else None
        zero = jnp.zeros((n,), jnp.int32)

        def step(carry, xs):
            psi, carried = carry
            t, d = xs
            us = self.local(t) @ pauli[carried]  # the previous ring's errors, then the rotations
            if "pauli1" in d:
                us = pauli[d["pauli1"]] @ us
            if damp is not None:
                us = damp[d["jump"]] @ us
            c = tc.Circuit(n, inputs=psi)
            _apply_local(c, us, n)
            psi = self.ring(c, t)
            return (psi, noise_mod.ring_paulis(d["pauli2"]) if "pauli2" in d else zero), None

        def trajectory(psi, d):
            (psi, carried), _ = jax.lax.scan(step, (psi, zero), (params, d))
            sign = jnp.where(carried[n - 1] >= 2, -1.0, 1.0).astype(self.real_dtype)  # X or Y flips Z
            return sign * _expect_z(psi, n, n - 1, self.real_dtype)

        per_state = jax.vmap(trajectory, in_axes=(None, 0))  # trajectories of one state
        z = jax.vmap(per_state)(states, draws)
        var = jnp.var(jax.lax.stop_gradient(z), axis=1, ddof=1) / k if k > 1 else jnp.full((batch,), jnp.nan)
        return jnp.mean(z, axis=1), var

    def _measure(self, z, var, key):
        """Readout error and finite shots on the exact (or trajectory-mean) expectations ``z`` (variance ``var``)."""
        noise = self.noise
        if noise is None:
            return z, jnp.zeros_like(z)
        if noise.readout > 0:
            z, var = (1 - 2 * noise.readout) * z, (1 - 2 * noise.readout) ** 2 * var
        if noise.shots is not None:
            prob = jnp.clip((1 + jax.lax.stop_gradient(z)) / 2, 0, 1)
            var = var + 4 * prob * (1 - prob) / noise.shots
            ones = jax.random.binomial(jax.random.fold_in(key, 2), noise.shots, prob).astype(z.dtype)
            estimate = 2 * ones / noise.shots - 1
            z = z + jax.lax.stop_gradient(estimate - z)  # straight through: the gradient of the exact value
        return z, jnp.sqrt(var) * jnp.ones_like(z)


@dataclass(frozen=True)
class QNN(CircuitQNN):
    r"""The paper's QNN: per layer RX, RY, RX on every qubit, then an RZZ ring.

    Parameters ``t`` have shape ``(depth, n_qubits, 4)``: ``t[j, i, :3]`` are the
    RX, RY, RX angles on qubit ``i`` in layer ``j`` and ``t[j, i, 3]`` the angle of
    RZZ on the ring pair ``(i, i+1 mod L)``. Gates: :math:`R_X(t) = e^{-itX/2}`,
    :math:`R_{ZZ}(t) = e^{-itZZ/2}`. Initialised :math:`\mathcal N(0, \text{init\_std}^2)`.
    """

    angles_per_qubit: ClassVar[int] = 4

    def _rotation(self, a):
        ctype = self.complex_dtype
        return _rx(a[2], ctype) @ _ry(a[1], ctype) @ _rx(a[0], ctype)

    def last_layer_expectation(self, psi, t):
        """The readout's light cone: the RZZ ring commutes with :math:`Z_{L-1}` and the other
        qubits' rotations act on the traced-out part, so only the readout qubit's rotation remains."""
        amp = psi.reshape(-1, 2) @ self._rotation(t[-1]).T  # qubit L-1 is the least significant bit
        prob = jnp.real(amp) ** 2 + jnp.imag(amp) ** 2
        return jnp.sum(prob[:, 0] - prob[:, 1])

    def local(self, t):
        return jax.vmap(self._rotation)(t)

    def ring(self, c, t):
        zz = jnp.asarray(_zz_ring(self.n_qubits), dtype=self.real_dtype)
        phase = jnp.exp(-0.5j * (t[:, 3] @ zz)).astype(self.complex_dtype)  # the whole RZZ ring
        return c.state() * phase


@dataclass(frozen=True)
class LandscapeQNN(CircuitQNN):
    r"""The loss-landscape study's QNN: per layer RX on all qubits, RY on all qubits,
    then a CNOT ring ``CNOT(0,1), CNOT(1,2), ..., CNOT(L-1,0)``.

    Parameters have shape ``(depth, n_qubits, 2)`` (RX angle, RY angle); same
    readout as :class:`QNN`.
    """

    depth: int = 5
    name: str = "qnn-landscape"

    angles_per_qubit: ClassVar[int] = 2
    # time estimates: a layer (CNOT ring gate by gate) costs 1.4 paper layers (the quick and the full paper-preset
    # landscape parts, benchmarks/README.md)
    layer_cost: ClassVar[float] = 1.4

    def local(self, t):
        ctype = self.complex_dtype
        return jax.vmap(lambda a: _ry(a[1], ctype) @ _rx(a[0], ctype))(t)

    def ring(self, c, t):
        n = self.n_qubits
        for i in range(n):
            c.cnot(i, (i + 1) % n)
        return c.state()
