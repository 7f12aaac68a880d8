"""The dataset registry, users' own data (from_arrays) and .npz files; the contract every dataset keeps."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import qunlearn.data as data
from qunlearn.data import (
    DATASETS,
    Dataset,
    default_options,
    from_arrays,
    is_npz_path,
    is_registered,
    load,
    load_npz,
    names,
    register_dataset,
    unregister_dataset,
)
from qunlearn.data.custom import MAX_QUBITS, NORM_TOL
from qunlearn.errors import InputError

#: Tiny options of every built-in dataset, so the contract test stays fast.
TINY = {
    "mnist": {"n_per_class": 4, "n_val_per_class": 3},
    "xxz": {"n_spins": 4, "n_per_class": 4},
}


@pytest.fixture
def registry():
    """Restore the registry after the test, whatever it registered or removed."""
    saved = dict(DATASETS)
    yield DATASETS
    DATASETS.clear()
    DATASETS.update(saved)


def _toy(seed: int = 0, n: int = 12, d: int = 5):
    """A small real feature set with both classes in each split."""
    rng = np.random.default_rng(seed)
    x_train = rng.normal(size=(n, d))
    x_val = rng.normal(size=(n // 2, d))
    y_train = np.arange(n) % 2
    y_val = np.arange(n // 2) % 2
    return x_train, y_train, x_val, y_val


def _states(seed: int = 0, n: int = 8, n_qubits: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2**n_qubits)) + 1j * rng.normal(size=(n, 2**n_qubits))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.arange(n) % 2
    return x[: n // 2 + 2], y[: n // 2 + 2], x[n // 2 + 2:], y[n // 2 + 2:]


def _save(path, *arrays, **extra):
    with open(path, "wb") as fh:  # a file object: np.savez would append .npz to "X.NPZ"
        np.savez(fh, **dict(zip(("x_train", "y_train", "x_val", "y_val"), arrays)), **extra)
    return path


# ---------------------------------------------------------------- the contract


def _contract_loader(kind: str, tmp_path):
    if kind in TINY:
        return lambda: load(kind, **TINY[kind])
    if kind == "arrays-amplitude":
        return lambda: from_arrays(*_toy(), name="toy")
    if kind == "arrays-images":
        rng = np.random.default_rng(3)
        imgs = rng.uniform(0, 1, size=(6, 3, 3))
        return lambda: from_arrays(imgs, [0, 1] * 3, imgs[:2], [1, 0])
    if kind == "arrays-encoded":
        return lambda: from_arrays(*_states(), encoding="encoded")
    if kind == "npz":
        path = _save(tmp_path / "toy.npz", *_toy(1))
        return lambda: load(str(path))
    raise AssertionError(kind)


CONTRACT = (*names(), "arrays-amplitude", "arrays-images", "arrays-encoded", "npz")


def test_every_builtin_has_tiny_options():
    assert set(names()) <= set(TINY), "give a newly registered dataset tiny options in TINY"


@pytest.mark.parametrize("kind", CONTRACT)
def test_dataset_contract(kind, tmp_path):
    make = _contract_loader(kind, tmp_path)
    ds = make()
    assert isinstance(ds, Dataset) and isinstance(ds.name, str) and ds.name
    for split in ("train", "val"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        assert x.ndim == 2 and x.shape[1] == 2**ds.n_qubits and len(x) == len(y) > 0
        assert x.dtype in (np.float32, np.complex64)
        np.testing.assert_allclose(np.linalg.norm(x.astype(np.complex128), axis=1), 1.0, atol=1e-5)
        assert y.dtype == np.int32 and y.ndim == 1 and set(np.unique(y)) <= {0, 1}
        assert not x.flags.writeable and not y.flags.writeable
    assert set(np.unique(ds.y_train)) == {0, 1}
    assert ds.x_train.shape[1] == ds.x_val.shape[1] and ds.x_train.dtype == ds.x_val.dtype
    assert 1 <= ds.n_qubits <= MAX_QUBITS
    json.dumps(ds.info)
    json.dumps(ds.summary())
    again = make()
    for attr in ("x_train", "y_train", "x_val", "y_val"):
        np.testing.assert_array_equal(getattr(ds, attr), getattr(again, attr))
    assert again.info == ds.info and again.name == ds.name


# ---------------------------------------------------------------- registry


def test_builtins_are_registered_in_order():
    assert names()[:2] == ("mnist", "xxz")
    assert list(DATASETS) == list(names())
    assert is_registered("mnist") and is_registered(" XXZ ") and not is_registered("cifar")
    assert not is_registered("data.npz") and not is_registered(None)
    assert is_npz_path("a/b.NPZ") and not is_npz_path("mnist")
    assert default_options("x.npz") == {"encoding": None}
    assert default_options("mnist")["n_per_class"] == 250


def test_register_a_dataset_instance(registry):
    ds = from_arrays(*_toy(), name="toy")
    register_dataset("toy", ds)
    assert names()[-1] == "toy" and is_registered("TOY")
    assert load("toy") is ds and load("Toy") is ds
    assert default_options("toy") == {}
    with pytest.raises(InputError, match=r"unknown option.*n_per_class.*'toy'.*none"):
        load("toy", n_per_class=3)
    with pytest.raises(InputError, match="'toy' is already registered.*replace=True"):
        register_dataset("toy", ds)
    with pytest.raises(InputError, match="'toy' is already registered"):
        register_dataset("TOY", ds)  # names are case-insensitive
    other = from_arrays(*_toy(seed=5), name="toy2")
    register_dataset("toy", other, replace=True)
    assert load("toy") is other and names().count("toy") == 1
    unregister_dataset("toy")
    assert not is_registered("toy")
    with pytest.raises(InputError, match="'toy' is not registered"):
        unregister_dataset("toy")


def test_register_a_loader_function(registry):
    calls = []

    def loader(seed: int = 0, n: int = 12):
        calls.append((seed, n))
        return from_arrays(*_toy(seed=seed, n=n), name="mine")

    register_dataset("my-data_2", loader)
    assert default_options("my-data_2") == {"seed": 0, "n": 12}
    ds = load("my-data_2", seed=3, n=8)
    assert calls == [(3, 8)] and len(ds.y_train) == 8
    with pytest.raises(InputError, match=r"unknown option\(s\) bogus.*valid options: seed, n"):
        load("my-data_2", bogus=1)
    with pytest.raises(InputError, match="unknown dataset 'cifar'.*mnist, xxz, my-data_2.*npz"):
        load("cifar")
    # a built-in can be replaced, and the registry fixture puts it back
    register_dataset("mnist", loader, replace=True)
    assert names()[0] == "mnist" and load("mnist").name == "mine"


def test_registry_is_restored_after_the_tests_above():
    assert tuple(DATASETS) == ("mnist", "xxz")
    assert DATASETS["mnist"] is data.mnist.load_mnist


@pytest.mark.parametrize(
    "name, needle",
    [
        ("", "non-empty string of letters, digits"),
        ("has space", "letters, digits, '-' and '_'"),
        ("dotted.name", "letters, digits"),
        ("mine.npz", "cannot end in .npz"),
        ("MINE.NPZ", "cannot end in .npz"),
        (3, "non-empty string"),
        (None, "non-empty string"),
    ],
)
def test_register_refuses_bad_names(registry, name, needle):
    with pytest.raises(InputError, match=needle):
        register_dataset(name, from_arrays(*_toy()))


def test_register_refuses_bad_loaders(registry):
    with pytest.raises(InputError, match="loader must be a function.*got int"):
        register_dataset("bad", 3)

    def needs_arg(path):
        return None

    with pytest.raises(InputError, match="option.*without a default: path"):
        register_dataset("bad", needs_arg)
    with pytest.raises(InputError, match="replace must be True or False"):
        register_dataset("bad", from_arrays(*_toy()), replace="yes")
    register_dataset("bad", lambda: "not a dataset")
    with pytest.raises(InputError, match="returned str, not a qunlearn.data.Dataset"):
        load("bad")


def test_loader_with_kwargs_takes_any_option(registry):
    register_dataset("kw", lambda **kw: from_arrays(*_toy(seed=kw.get("seed", 0))))
    assert default_options("kw") == {}
    assert load("kw", seed=2).info["content_hash"] == from_arrays(*_toy(seed=2)).info["content_hash"]


# ---------------------------------------------------------------- from_arrays


def test_from_arrays_amplitude_pads_and_normalises():
    x = np.array([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 2.0]])
    ds = from_arrays(x, [0, 1, 1], x[:2], np.array([True, False]), name="toy")
    assert ds.name == "toy" and ds.x_train.shape == (3, 4) and ds.x_train.dtype == np.float32
    np.testing.assert_allclose(ds.x_train[0], [0.6, 0.8, 0.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(ds.x_train[2], [0.0, 0.0, 1.0, 0.0])
    assert ds.y_val.tolist() == [1, 0] and ds.y_train.dtype == np.int32
    info = ds.info
    assert info["source"] == "arrays" and info["encoding"] == "amplitude"
    sizes = tuple(info[k] for k in ("n_train", "n_val", "n_features_in", "n_features", "n_qubits"))
    assert sizes == (3, 2, 3, 4, 2)
    assert info["train_per_class"] == [1, 2] and info["val_per_class"] == [1, 1]
    assert len(info["content_hash"]) == 16 and int(info["content_hash"], 16) >= 0


def test_from_arrays_label_forms_and_extremes():
    x = np.array([[1e-200, 0.0], [0.0, 1e200], [1e300, 1e300]])
    for y in ([0, 1, 1], np.array([0.0, 1.0, 1.0]), np.array([False, True, True]), np.array([0, 1, 1], np.uint8)):
        ds = from_arrays(x, y, x, y)
        assert ds.y_train.tolist() == [0, 1, 1]
    np.testing.assert_allclose(ds.x_train, [[1, 0], [0, 1], [2**-0.5, 2**-0.5]], rtol=1e-6)
    # one feature: one qubit, the padded amplitude zero
    one = from_arrays([[2.0], [-3.0]], [0, 1], [[1.0]], [1])
    assert one.n_qubits == 1 and one.x_train.tolist() == [[1.0, 0.0], [-1.0, 0.0]]


def test_from_arrays_hash_tells_datasets_apart():
    a = from_arrays(*_toy(0))
    assert a.info["content_hash"] == from_arrays(*_toy(0)).info["content_hash"]
    assert a.info["content_hash"] != from_arrays(*_toy(1)).info["content_hash"]
    x_train, y_train, x_val, y_val = _toy(0)
    flipped = from_arrays(x_train, 1 - y_train, x_val, y_val)
    assert a.info["content_hash"] != flipped.info["content_hash"]
    # the hash is of the final arrays: float32 or float64 input of the same values gives the same dataset
    x32, xv32 = x_train.astype(np.float32), x_val.astype(np.float32)
    same = from_arrays(x32.astype(np.float64), y_train, xv32, y_val.astype(float))
    assert from_arrays(x32, y_train, xv32, y_val).info["content_hash"] == same.info["content_hash"]


def test_from_arrays_encoded_states():
    x_train, y_train, x_val, y_val = _states()
    ds = from_arrays(x_train, y_train, x_val, y_val, name="states", encoding="encoded")
    assert ds.is_complex and ds.x_train.dtype == np.complex64 and ds.n_qubits == 3
    np.testing.assert_allclose(ds.x_train, x_train, atol=1e-6)
    assert ds.info["encoding"] == "encoded"
    real = from_arrays(np.eye(4)[:2], [0, 1], np.eye(4)[2:], [0, 1], encoding="encoded")
    assert real.x_train.dtype == np.float32 and not real.is_complex
    nearly = np.eye(4) * (1 + NORM_TOL / 2)  # within tolerance: accepted and renormalised
    assert from_arrays(nearly, [0, 1, 0, 1], nearly, [0, 1, 0, 1], encoding=" Encoded ").x_train[0, 0] == 1.0


def _refused(match, *args, **kwargs):
    with pytest.raises(InputError, match=match) as err:
        from_arrays(*args, **kwargs)
    assert "\n" not in str(err.value)


X, Y, XV, YV = _toy()


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((X[0], Y, XV, YV), {}, r"x_train must be a 2-D array .*shape \(5,\)"),
        ((X, Y, XV[0], YV), {}, r"x_val must be a 2-D array"),
        ((X, Y[:, None], XV, YV), {}, r"y_train must be a 1-D array.*shape \(12, 1\)"),
        ((X, Y[:-1], XV, YV), {}, "x_train has 12 samples but y_train has 11 labels"),
        ((X, Y, XV, YV[:-1]), {}, "x_val has 6 samples but y_val has 5 labels"),
        ((X[:0], Y[:0], XV, YV), {}, "x_train has no samples"),
        ((X, Y, XV[:0], YV[:0]), {}, "x_val has no samples"),
        ((X[:, :0], Y, XV[:, :0], YV), {}, "x_train has zero features"),
        ((X, Y, XV[:, :4], YV), {}, "x_train has 5 features per row but x_val has 4"),
        ((np.where(np.arange(12)[:, None] == 7, np.nan, X), Y, XV, YV), {}, "x_train contains NaN.*first: row 7"),
        ((X, Y, np.where(np.arange(6)[:, None] == 2, np.inf, XV), YV), {}, "x_val contains NaN or infinite.*row 2"),
        ((X.astype(str), Y, XV, YV), {}, "x_train must be numeric"),
        ((X, Y + 1, XV, YV), {}, "y_train must hold only the labels 0 and 1, found 2; map your two classes"),
        ((X, Y * 2 - 1, XV, YV), {}, "y_train must hold only the labels 0 and 1, found -1"),
        ((X, Y, XV, YV * 0.5), {}, "y_val must hold only the labels 0 and 1, found 0.5"),
        ((X, np.where(Y == 1, np.nan, 0.0), XV, YV), {}, "y_train contains NaN"),
        ((X, Y.astype(str), XV, YV), {}, "y_train must hold the numbers 0 and 1, got dtype <U"),
        ((X, np.zeros(12, int), XV, YV), {}, "y_train holds only class 0 .12 samples.; .*both classes"),
        ((X, np.ones(12, int), XV, YV), {}, "y_train holds only class 1"),
        ((np.where(np.arange(12)[:, None] == 4, 0.0, X), Y, XV, YV), {}, "x_train row 4 is all zero.*drop those"),
        ((X, Y, np.where(np.arange(6)[:, None] >= 3, 0.0, XV), YV), {}, r"x_val row 3 is all zero \(3 such row"),
        ((X + 1j, Y, XV, YV), {}, "x_train is complex.*encoding='encoded'"),
        ((X, Y, XV, YV), {"encoding": "angle"}, "unknown encoding 'angle'.*amplitude.*encoded"),
        ((X, Y, XV, YV), {"encoding": None}, "unknown encoding None"),
        ((X, Y, XV, YV), {"name": ""}, "dataset name must be"),
        ((X, Y, XV, YV), {"name": "a b"}, "dataset name must be"),
        ((X, Y, XV, YV), {"encoding": "encoded"}, "x_train has 5 amplitudes per row, not a power of two"),
        ((X[:, :1] / np.abs(X[:, :1]), Y, XV[:, :1] / np.abs(XV[:, :1]), YV), {"encoding": "encoded"}, "0-qubit"),
        ((np.eye(4) * 2, [0, 1, 0, 1], np.eye(4), [0, 1, 0, 1]), {"encoding": "encoded"},
         r"x_train row 0 has norm 2, not 1 \(tolerance 0.0001; 4 such row"),
        ((np.eye(4), [0, 1, 0, 1], np.eye(4) * np.array([[1], [1], [0.5], [1]]), [0, 1, 0, 1]),
         {"encoding": "encoded"}, "x_val row 2 has norm 0.5"),
        ((np.eye(4)[:, :, None], [0, 1, 0, 1], np.eye(4), [0, 1, 0, 1]), {"encoding": "encoded"},
         r"x_train must be a 2-D array \(samples, features\) \(one state per row\)"),
    ],
)
def test_from_arrays_refusals(args, kwargs, match):
    _refused(match, *args, **kwargs)


def test_from_arrays_refuses_too_many_qubits():
    d = 2**MAX_QUBITS + 1
    x = np.zeros((2, d), dtype=np.float32)
    x[:, 0] = 1.0
    _refused(rf"{d} features per row, which needs 21 qubits; qunlearn accepts 1..20 qubits.*state vector.*memory",
             x, [0, 1], x, [0, 1])
    # the limit itself is accepted (encoded: 2**20 amplitudes)
    ok = np.zeros((2, 2**MAX_QUBITS), dtype=np.float32)
    ok[0, 0] = ok[1, 1] = 1.0
    assert from_arrays(ok, [0, 1], ok[:1], [1], encoding="encoded").n_qubits == MAX_QUBITS


# ---------------------------------------------------------------- .npz files


def test_npz_round_trip_through_load(tmp_path):
    arrays = _toy(4)
    path = _save(tmp_path / "My Set.npz", *arrays)
    ds = load(str(path))
    ref = from_arrays(*arrays, name="My_Set")
    assert ds.name == "My_Set"
    for attr in ("x_train", "y_train", "x_val", "y_val"):
        np.testing.assert_array_equal(getattr(ds, attr), getattr(ref, attr))
    assert ds.info["content_hash"] == ref.info["content_hash"]
    assert ds.info["source"] == "npz" and ds.info["path"] == str(path) and ds.info["encoding"] == "amplitude"
    upper = _save(tmp_path / "UPPER.NPZ", *arrays)
    assert load(upper).name == "UPPER" and load_npz(upper, name="other").name == "other"
    assert load(str(path), encoding="amplitude").info["content_hash"] == ref.info["content_hash"]
    with pytest.raises(InputError, match=r"unknown option\(s\) n_per_class for the dataset file.*options: encoding"):
        load(str(path), n_per_class=3)


def test_npz_encoding_key(tmp_path):
    states = _states()
    path = _save(tmp_path / "states.npz", *states, encoding=np.array("encoded"))
    ds = load(str(path))
    assert ds.is_complex and ds.info["encoding"] == "encoded"
    np.testing.assert_array_equal(ds.x_train, from_arrays(*states, encoding="encoded").x_train)
    assert load(str(path), encoding="encoded").info["content_hash"] == ds.info["content_hash"]
    with pytest.raises(InputError, match="says encoding 'encoded' but encoding='amplitude' was passed"):
        load(str(path), encoding="amplitude")
    plain = _save(tmp_path / "plain.npz", *states)
    assert load_npz(plain, encoding="encoded").is_complex
    with pytest.raises(InputError, match=r"plain.npz: x_train is complex.*encoding='encoded'"):
        load_npz(plain)  # no encoding anywhere: amplitude
    bad = _save(tmp_path / "bad.npz", *states, encoding=np.array([1, 2]))
    with pytest.raises(InputError, match="'encoding' must be a 0-d string array"):
        load_npz(bad)
    odd = _save(tmp_path / "odd.npz", *_toy(), encoding=np.array("angle"))
    with pytest.raises(InputError, match="unknown encoding 'angle'"):
        load_npz(odd)


def test_npz_refusals(tmp_path):
    def refused(match, path, **kw):
        with pytest.raises(InputError, match=match) as err:
            load(str(path), **kw)
        assert "\n" not in str(err.value)

    refused("does not exist", tmp_path / "missing.npz")
    (tmp_path / "dir.npz").mkdir()
    refused("is a directory", tmp_path / "dir.npz")
    (tmp_path / "text.npz").write_text("hello, not an archive")
    refused("is not an .npz archive", tmp_path / "text.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    refused("is not an .npz archive", tmp_path / "empty.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    refused(r"single array \(np.save\)", tmp_path / "single.npz")
    good = _save(tmp_path / "good.npz", *_toy())
    raw = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    refused("cannot read dataset file .*cut.npz as .npz.*corrupt", tmp_path / "cut.npz")
    garbled = bytearray(raw)
    garbled[200:400] = bytes(200)
    (tmp_path / "garbled.npz").write_bytes(bytes(garbled))
    refused("cannot read dataset file .*garbled.npz.*corrupt", tmp_path / "garbled.npz")
    x_train, y_train, x_val, y_val = _toy()
    np.savez(tmp_path / "keys.npz", x_train=x_train, y_train=y_train, x_test=x_val)
    refused(r"lacks the array\(s\) x_val, y_val \(it has: x_train, y_train, x_test\)", tmp_path / "keys.npz")
    np.savez(tmp_path / "nothing.npz")
    refused(r"lacks the array\(s\) x_train, y_train, x_val, y_val \(it has: none\)", tmp_path / "nothing.npz")
    ragged = np.empty(12, dtype=object)
    ragged[:] = [np.zeros(k + 1) for k in range(12)]
    np.savez(tmp_path / "objects.npz", x_train=ragged, y_train=y_train, x_val=x_val, y_val=y_val)
    refused("array 'x_train' is an object .pickled. array.*plain numeric", tmp_path / "objects.npz")
    _save(tmp_path / "labels.npz", x_train, y_train + 1, x_val, y_val)
    refused("labels.npz: y_train must hold only the labels 0 and 1", tmp_path / "labels.npz")
    with zipfile.ZipFile(tmp_path / "zip.npz", "w") as zf:
        zf.writestr("x_train.npy", b"not an npy header")
        for k in ("y_train", "x_val", "y_val"):
            zf.writestr(f"{k}.npy", b"")
    refused(r"zip.npz: member 'x_train' is not a NumPy array \(.npy\).*not an .npz", tmp_path / "zip.npz")
    with zipfile.ZipFile(tmp_path / "zip2.npz", "w") as zf:
        zf.writestr("x_train.npy", b"\x93NUMPY\x01\x00garbage")
        for k in ("y_train", "x_val", "y_val"):
            zf.writestr(f"{k}.npy", b"")
    refused("cannot read dataset file .*zip2.npz as .npz.*corrupt", tmp_path / "zip2.npz")
    with pytest.raises(InputError, match="must be a path"):
        load_npz(3)


def test_custom_module_does_not_import_jax():
    code = "import sys, qunlearn.data.custom; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
