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
validation, initialisation, the layer scan, the batch vmap and the readout. An
ansatz only declares ``angles_per_qubit`` and its layer ``layer(psi, t) -> psi``
(``t`` of shape ``(n_qubits, angles_per_qubit)``). Every dtype comes from the
model's own ``precision`` field (see :mod:`qunlearn.backend`).

The test suite checks both models against an independent dense NumPy simulation
built gate by gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import tensorcircuit as tc

from .. import backend
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
    r"""Shared machinery of the layered QNNs: fields, validation, init, scan, vmap, readout.

    A subclass sets ``angles_per_qubit`` and implements ``layer(psi, t) -> psi``,
    one layer acting on a single state ``psi`` (shape ``(2**n_qubits,)``, dtype
    :attr:`complex_dtype`) with that layer's angles ``t`` (shape
    ``(n_qubits, angles_per_qubit)``). Parameters have shape
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

    angles_per_qubit: ClassVar[int]

    def __post_init__(self):
        if not isinstance(getattr(type(self), "angles_per_qubit", None), int):
            raise TypeError(f"{type(self).__name__} must set the class attribute angles_per_qubit")
        _check_qubits(self.n_qubits, self.depth)
        backend.check_precision(self.precision)

    @property
    def complex_dtype(self):
        return backend.dtypes(self.precision)[0]

    @property
    def real_dtype(self):
        return backend.dtypes(self.precision)[1]

    @property
    def param_shape(self) -> tuple[int, int, int]:
        return (self.depth, self.n_qubits, self.angles_per_qubit)

    def layer(self, psi: jax.Array, t: jax.Array) -> jax.Array:
        raise NotImplementedError

    def init(self, key: jax.Array) -> jax.Array:
        backend.set_precision(self.precision)
        return self.init_std * jax.random.normal(key, self.param_shape, dtype=self.real_dtype)

    def last_layer_expectation(self, psi: jax.Array, t: jax.Array) -> jax.Array:
        """``<Z_{L-1}>`` after the last layer (angles ``t``) on ``psi``.
        The whole layer here; an ansatz may restrict it to the readout's light cone."""
        n = self.n_qubits
        return _expect_z(self.layer(psi, t), n, n - 1, self.real_dtype)

    def apply(self, params: jax.Array, x: jax.Array) -> jax.Array:
        backend.set_precision(self.precision)

        def step(psi, t):
            return self.layer(psi, t), None

        def single(psi):
            psi, _ = jax.lax.scan(step, psi, params[:-1])
            return jax.nn.sigmoid(self.readout_scale * self.last_layer_expectation(psi, params[-1]))

        return jax.vmap(single)(_as_states(x, self.n_qubits, self.complex_dtype))


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

    def layer(self, psi, t):
        n = self.n_qubits
        zz = jnp.asarray(_zz_ring(n), dtype=self.real_dtype)
        us = jax.vmap(self._rotation)(t)
        c = tc.Circuit(n, inputs=psi)
        _apply_local(c, us, n)
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

    def layer(self, psi, t):
        n, ctype = self.n_qubits, self.complex_dtype
        us = jax.vmap(lambda a: _ry(a[1], ctype) @ _rx(a[0], ctype))(t)
        c = tc.Circuit(n, inputs=psi)
        _apply_local(c, us, n)
        for i in range(n):
            c.cnot(i, (i + 1) % n)
        return c.state()
