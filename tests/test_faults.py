"""Faults and the identity of a run's pieces: distinct cells never share a file, ...

Each test here names a defect that today's code had; see the issue on runs that survive faults.
"""

import pytest

from qunlearn.config import LandscapeConfig, PoisonConfig, SweepConfig, UnlearnConfig, preset_configs
from qunlearn.errors import FAULT_EXIT, InputError

QUICK = preset_configs("quick", "mnist")


def _models(*names):
    mlp = QUICK["poison"].models["mlp"]
    return {n: mlp for n in names}


# ------------------------------------------------------------------ 1. a cell's identity is exact


@pytest.mark.parametrize("a,b", [("a/b", "a-b"), ("ä", "ö"), ("x y", "x-y"), ("m_1", "m-1")])
def test_model_names_that_would_share_a_cell_file_are_refused_naming_both(a, b):
    with pytest.raises(InputError) as e:
        QUICK["poison"].replace(models=_models(a, b))
    msg = str(e.value)
    assert repr(a) in msg and repr(b) in msg and "cell file" in msg and "\n" not in msg
    assert e.value.path == "models"


def test_model_names_that_stay_apart_are_kept():
    cfg = QUICK["poison"].replace(models=_models("qnn-2", "qnn.2", "QNN2"))
    assert list(cfg.models) == ["qnn-2", "qnn.2", "QNN2"]


def test_an_overlong_model_name_is_refused_before_any_work():
    with pytest.raises(InputError, match=r"model name .* is 300 characters.*at most 100") as e:
        QUICK["poison"].replace(models=_models("m" * 300))
    assert e.value.path == "models"


@pytest.mark.parametrize("make", [
    lambda a: QUICK["poison"].replace(alphas=a),
    lambda a: QUICK["landscape"].replace(alphas=a),
])
def test_alphas_equal_at_the_cell_precision_are_refused_naming_both(make):
    with pytest.raises(InputError) as e:
        make((0.1, 0.3, 0.1000001))
    msg = str(e.value)
    assert "0.1" in msg and "0.1000001" in msg and "1e-06" in msg, msg
    assert e.value.path.endswith("alphas")


def test_alphas_apart_at_the_cell_precision_are_kept():
    assert QUICK["poison"].replace(alphas=(0.1, 0.100001)).alphas == (0.1, 0.100001)


def test_sweep_weights_equal_at_the_cell_precision_are_refused():
    sweep = SweepConfig(unlearn=QUICK["unlearn"], method="scrub")
    with pytest.raises(InputError, match=r"0\.1 and 0\.10001 .*0\.0001") as e:
        sweep.replace(grid=(0.1, 0.5, 0.10001))
    assert e.value.path == "grid"


def test_the_configs_keep_their_types():
    assert isinstance(QUICK["poison"], PoisonConfig) and isinstance(QUICK["unlearn"], UnlearnConfig)
    assert isinstance(QUICK["landscape"], LandscapeConfig)


# ------------------------------------------------------------------ 2. one writer per run directory

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from helpers import run_cli, snapshot  # noqa: E402

EXE = str(Path(sys.executable).parent / "qunlearn")
TINY_TOML = 'preset = "quick"\n[mnist.poison]\ndata_options = {n_per_class = 12}\n'


def _poison(out, epochs, config):
    return ["poison", "--config", str(config), "--model", "mlp", "--attack", "label-flip", "--alphas", "0",
            "--runs", "1", "--epochs", str(epochs), "--out", str(out)]


@pytest.fixture
def tiny_toml(tmp_path):
    f = tmp_path / "tiny.toml"
    f.write_text(TINY_TOML)
    return f


def _start(args, cwd):
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("PYTEST_CURRENT_TEST", None)
    # a pytest-xdist worker ignores SIGINT, and an ignored signal survives exec (a handler does not): give the
    # worker Python's handler, so that the command finds SIGINT as a user's Ctrl-C does
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return subprocess.Popen([EXE, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _work_of(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k != ".qunlearn.lock"}  # the lock file holds its holder's note


def _work(path: Path) -> dict:
    return _work_of(snapshot(path))


def _wait_for(path: Path, proc, seconds=120):
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < seconds, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.parametrize("same", [False, True], ids=["other-config", "same-config"])
def test_a_second_command_on_a_directory_in_use_is_refused_naming_the_holder(tmp_path, tiny_toml, capsys, same):
    out = tmp_path / "run"
    first = _start(_poison(out, 100000, tiny_toml), tmp_path)  # busy for minutes
    try:
        _wait_for(out / "config.json", first)
        before = snapshot(out)
        rc = run_cli(_poison(out, 100000 if same else 3, tiny_toml))
        err = capsys.readouterr().err
        assert rc == 2, err
        line = err.strip()
        assert "\n" not in line and f"in use by another qunlearn command (PID {first.pid}: qunlearn poison" in line
        assert "--wait" in line and snapshot(out) == before  # nothing of the holder's touched
        if not same:  # a report of a run that is being written (and has no results yet) is refused the same way
            assert run_cli(["report", str(out)]) == 2
            err = capsys.readouterr().err
            assert f"in use by another qunlearn command (PID {first.pid}" in err, err
            assert snapshot(out) == before
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # the holder was killed -9: its lock died with it, and the next command runs
    assert run_cli(_poison(out, 1, tiny_toml)) in (0, None)
    assert (out / "results.csv").exists()


def test_wait_waits_for_the_holder(tmp_path, tiny_toml):
    out = tmp_path / "run"
    code = ("import sys, time; from qunlearn import locks; locks.take(sys.argv[1]); print('held', flush=True); "
            "time.sleep(3)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    assert run_cli([*_poison(out, 1, tiny_toml), "--wait"]) in (0, None)
    assert time.monotonic() - t0 > 1.0 and holder.wait() == 0 and (out / "results.csv").exists()


def test_report_on_a_run_in_use_is_refused(tmp_path, tiny_toml, capsys):
    out = tmp_path / "run"
    assert run_cli(_poison(out, 1, tiny_toml)) in (0, None)
    before = snapshot(out)
    code = ("import sys, time; from qunlearn import locks; locks.take(sys.argv[1]); print('held', flush=True); "
            "time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert run_cli(["report", str(out)]) == 2
        assert f"in use by another qunlearn command (PID {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert _work(out) == _work_of(before)  # the refused report wrote nothing


def test_one_process_reruns_its_own_directory(tmp_path):
    """Locks are released when ql.run returns: a notebook reruns the same directory."""
    import qunlearn as ql
    from qunlearn import locks

    kw = dict(preset="quick", models=["mlp"], attacks=["label-flip"], alphas=[0.0], runs=1, epochs=1, quiet=True,
              config={"mnist": {"poison": {"data_options": {"n_per_class": 12}}}})
    ql.run("poison", out=tmp_path / "nb", **kw)
    again = ql.run("poison", out=tmp_path / "nb", **kw)
    assert len(again.results) and not locks.held(tmp_path / "nb")


# ------------------------------------------------------------------ 3. cells are verified before they are trusted

import shutil  # noqa: E402



@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny alpha sweep: (its directory, its command line without --out, its results.csv bytes)."""
    root = tmp_path_factory.mktemp("finished")
    toml = root / "tiny.toml"
    toml.write_text(TINY_TOML)
    out = root / "run"
    args = ["poison", "--config", str(toml), "--model", "mlp", "--attack", "label-flip", "--alphas", "0,0.3",
            "--runs", "1", "--epochs", "2"]
    with pytest.MonkeyPatch.context():
        assert run_cli([*args, "--out", str(out)]) in (0, None)
    return out, args, (out / "results.csv").read_bytes()


def _copy(finished, tmp_path):
    src, args, table = finished
    dst = tmp_path / "run"
    shutil.copytree(src, dst)
    (dst / ".qunlearn.lock").unlink(missing_ok=True)
    return dst, [*args, "--out", str(dst)], table


def _cell(run):
    return sorted((run / "cells").glob("*0.300000.csv"))[0]


def _cut_mid_number(data: bytes) -> bytes:
    """The file cut inside its last number (a crash or a full disk mid-write): it still parses as CSV."""
    text = data.decode().rstrip("\n")
    return text[:-3].encode()


@pytest.mark.parametrize("damage", ["cut-mid-number", "half", "garbage", "empty", "rows-dropped"])
def test_a_damaged_cell_is_named_and_computed_again(finished, tmp_path, capsys, damage):
    run, args, table = _copy(finished, tmp_path)
    cell = _cell(run)
    data = cell.read_bytes()
    cell.write_bytes({"cut-mid-number": _cut_mid_number(data), "half": data[:len(data) // 2],
                      "garbage": b"\x00\xff garbage \x13" * 20, "empty": b"",
                      "rows-dropped": b"\n".join(data.split(b"\n")[:-5]) + b"\n"}[damage])
    (run / "results.csv").unlink()
    capsys.readouterr()
    assert run_cli(args) in (0, None)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    named = [line for line in err.splitlines() if cell.name in line]
    assert len(named) == 1 and "computing it again" in named[0], err
    assert (run / "results.csv").read_bytes() == table  # never averaged in: the same table as before


def test_a_cell_of_another_config_is_not_trusted(finished, tmp_path, capsys):
    """A cell file copied in from a run of other settings (same name) fails its config identity."""
    run, args, table = _copy(finished, tmp_path)
    other = tmp_path / "other"
    assert run_cli([*[a if a != "2" else "3" for a in args[:-2]], "--out", str(other)]) in (0, None)
    shutil.copyfile(_cell(other), _cell(run))
    (run / "results.csv").unlink()
    capsys.readouterr()
    assert run_cli(args) in (0, None)
    err = capsys.readouterr().err
    assert any(_cell(run).name in line and "other settings" in line for line in err.splitlines()), err
    assert (run / "results.csv").read_bytes() == table


def test_stale_temporary_files_are_cleaned_on_the_next_run(finished, tmp_path):
    run, args, table = _copy(finished, tmp_path)
    stale = [run / "cells" / ".mlp__label-flip__0.300000.csv.abc123.tmp", run / ".results.csv.x1y2.tmp"]
    for s in stale:
        s.write_bytes(b"half a file")
    assert run_cli(args) in (0, None)
    assert not any(s.exists() for s in stale)
    assert (run / "results.csv").read_bytes() == table


def test_cells_written_before_checksums_resume_and_the_output_says_so(finished, tmp_path, capsys):
    """A run directory of the previous format: cells without a checksum line are checked as tables and kept."""
    run, args, table = _copy(finished, tmp_path)
    for cell in (run / "cells").glob("*.csv"):
        lines = cell.read_bytes().split(b"\n", 1)
        if lines[0].startswith(b"# qunlearn-cell"):
            cell.write_bytes(lines[1])
    stamps = {c: c.stat().st_mtime_ns for c in (run / "cells").glob("*.csv")}
    (run / "results.csv").unlink()
    capsys.readouterr()
    assert run_cli(args) in (0, None)
    err = capsys.readouterr().err
    assert "2 cells" in err and "before cells carried checksums" in err, err
    assert {c: c.stat().st_mtime_ns for c in stamps} == stamps  # kept, not recomputed
    assert (run / "results.csv").read_bytes() == table


def test_figures_are_written_atomically(finished, tmp_path, monkeypatch, capsys):
    """A disk that fills up while a figure is written leaves the previous figure whole."""
    import errno

    from matplotlib.figure import Figure

    run, args, table = _copy(finished, tmp_path)
    before = (run / "figure2.pdf").read_bytes()
    real = Figure.savefig

    def full_disk(self, fname, *a, **kw):
        if str(getattr(fname, "name", fname)).endswith(".pdf") or kw.get("format") == "pdf":
            if hasattr(fname, "write"):
                fname.write(b"%PDF-1.4 cut")
            else:
                Path(fname).write_bytes(b"%PDF-1.4 cut")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, fname, *a, **kw)

    monkeypatch.setattr(Figure, "savefig", full_disk)
    capsys.readouterr()
    assert run_cli(args) == FAULT_EXIT
    err = capsys.readouterr().err
    assert err.count("qunlearn: error: No space left on device") == 1 and "Traceback" not in err, err
    assert (run / "figure2.pdf").read_bytes() == before
    assert not list(run.glob(".*.tmp"))


# ------------------------------------------------------------------ 4. every fault gets one line, loses nothing


def test_a_full_disk_at_every_write_ends_in_one_line_and_the_rerun_completes(finished, tmp_path, monkeypatch,
                                                                             capsys):
    """ENOSPC injected at the k-th write of a run, for every k: one line, exit FAULT_EXIT, no temporary file
    left, and the same command (once the disk has room) finishes with the table of an undisturbed run."""
    import errno

    _, args, table = finished
    real = os.fsync
    k = 0
    while True:
        k += 1
        out = tmp_path / f"k{k}"
        calls = {"n": 0}

        def full(fd, _k=k, _calls=calls):
            _calls["n"] += 1
            if _calls["n"] == _k:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd)

        monkeypatch.setattr(os, "fsync", full)
        capsys.readouterr()
        rc = run_cli([*args, "--out", str(out)])
        monkeypatch.setattr(os, "fsync", real)
        err = capsys.readouterr().err
        if calls["n"] < k:  # the run made fewer writes than k: every write has been tried
            assert rc in (0, None) and k > 5, err
            break
        lines = [line for line in err.splitlines() if line.startswith("qunlearn: error:")]
        assert rc == FAULT_EXIT and len(lines) == 1 and "Traceback" not in err, (k, err)
        assert "No space left on device (" in lines[0] and "rerun the same command" in lines[0], lines[0]
        assert not [p for p in out.rglob("*.tmp")], k
        assert run_cli([*args, "--out", str(out)]) in (0, None)
        assert (out / "results.csv").read_bytes() == table, k


def _npz_declaring(path: Path, shape: tuple) -> None:
    """An .npz whose x_train header declares ``shape`` (float64) but holds a few bytes only."""
    import io
    import zipfile

    import numpy as np

    def member(arr=None, declared=None):
        buf = io.BytesIO()
        if declared is None:
            np.lib.format.write_array(buf, arr)
        else:
            np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": declared})
            buf.write(b"\0" * 64)
        return buf.getvalue()

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x_train.npy", member(declared=shape))
        z.writestr("y_train.npy", member(np.array([0, 1] * 4)))
        z.writestr("x_val.npy", member(np.ones((4, 4))))
        z.writestr("y_val.npy", member(np.array([0, 1, 0, 1])))


def test_an_npz_declaring_an_impossible_array_is_refused_before_reading(tmp_path, capsys):
    f = tmp_path / "huge.npz"
    _npz_declaring(f, (10**6, 98_000))  # 730 GiB
    rc = run_cli(["poison", "--dataset", str(f), "--preset", "quick", "--model", "mlp", "--out",
                  str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "x_train" in err and "GiB" in err and "memory" in err and not (tmp_path / "run").exists()


# ------------------------------------------------------------------ 5. no hangs

import socket  # noqa: E402
import threading  # noqa: E402


def _scheduler_command(address, tmp_path):
    return [EXE, "poison", "--preset", "quick", "--model", "mlp", "--executor", "dask", "--scheduler", address,
            "--out", str(tmp_path / "run")]


def test_a_port_that_is_no_dask_scheduler_is_refused_within_the_stated_timeout(tmp_path):
    pytest.importorskip("distributed")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    threading.Thread(target=lambda: [held.append(listener.accept()) for _ in range(8)], daemon=True).start()
    env = {**os.environ, "QUNLEARN_CONNECT_TIMEOUT": "2"}
    t0 = time.monotonic()
    proc = subprocess.run(_scheduler_command(f"tcp://127.0.0.1:{listener.getsockname()[1]}", tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "did not complete Dask's handshake within 2 s" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and time.monotonic() - t0 < 60
    assert not (tmp_path / "run" / "cells").exists()
    listener.close()


def test_a_closed_port_is_refused_at_once(tmp_path):
    pytest.importorskip("distributed")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    t0 = time.monotonic()
    proc = subprocess.run(_scheduler_command(f"tcp://127.0.0.1:{port}", tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "cannot reach the dask scheduler" in proc.stderr, proc.stderr
    assert time.monotonic() - t0 < 20  # the import and data load, no retries


# ------------------------------------------------------------------ 6. the smaller faults

@pytest.mark.parametrize("toml,field,what", [
    ('runs = "2"', "runs", "integer"),
    ("runs = 1.0", "runs", "integer"),
    ('alphas = [0.0, "0.3"]', "alphas", "number"),
    ('[mnist.poison.models.mlp.train]\nlr = "0.1"', "lr", "learning rate must be a number"),
    ("[mnist.poison.models.mlp.train]\nepochs = 2.0", "epochs", "integer"),
])
def test_values_of_the_wrong_kind_in_toml_are_refused(tmp_path, capsys, toml, field, what):
    f = tmp_path / "c.toml"
    head = "" if toml.startswith("[") else "[mnist.poison]\n"
    f.write_text('preset = "quick"\n' + head + toml + "\n")
    assert run_cli(["poison", "--config", str(f), "--model", "mlp", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and what in err, err
    assert not (tmp_path / "run").exists()


def test_numpy_integers_are_integers():
    import numpy as np

    assert QUICK["poison"].replace(runs=np.int64(3)).runs == 3


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_the_presets_landscape_fits_xxz(preset):
    """``qunlearn landscape --dataset xxz --preset quick`` was refused by its own defaults (100 Hessian points
    against 25 held-out states)."""
    from qunlearn import data

    cfg = preset_configs(preset, "xxz")["landscape"]
    cfg.check_data(data.load("xxz", **cfg.data_options))


def test_report_on_a_garbled_table_advises_the_plain_rerun_that_rebuilds_it(finished, tmp_path, capsys):
    run, args, table = _copy(finished, tmp_path)
    (run / "results.csv").write_bytes(b"\x00\x01 not a table")
    capsys.readouterr()
    assert run_cli(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--fresh" not in err and "rerun the same command" in err and "results.csv" in err, err
    assert run_cli(args) in (0, None)  # what it advised: the table comes back from the cells, identical
    assert (run / "results.csv").read_bytes() == table


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_comes_within_seconds_and_names_the_cell_it_loses(tmp_path, tiny_toml, sig):
    """A stop used to wait for the cell in flight to finish (62 s on a paper-size QNN cell) and then drop it."""
    out = tmp_path / "run"
    proc = _start(_poison(out, 10**6, tiny_toml), tmp_path)  # one cell of minutes
    try:
        _wait_for(out / "config.json", proc)
        time.sleep(3)  # the cell is computing (or compiling)
        t0 = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        waited = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130 and waited < 10, (waited, err[-1500:])
    assert "Traceback" not in err and "mlp label-flip alpha=0.00" in err and "lost" in err, err[-1500:]
    line = next(x for x in err.splitlines() if "interrupted" in x)
    assert "lost" in line and line.rstrip().endswith("resume"), line  # one line, never wrapped
    assert not list((out / "cells").glob("*.csv"))  # nothing half-done was saved


def test_an_idx_header_is_checked_before_its_body_is_read(tmp_path, monkeypatch):
    """A gzip that expands to 200 MB behind a wrong header: refused after reading the header, not the 200 MB."""
    import gzip

    from qunlearn.data import mnist

    f = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(f, "wb") as fh:
        fh.write((1234).to_bytes(4, "big") + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
        zeros = b"\0" * (1 << 20)
        for _ in range(200):
            fh.write(zeros)
    read = {"bytes": 0}
    real_open = gzip.open

    class Spy:
        def __init__(self, fh):
            self.fh = fh

        def read(self, n=-1):
            data = self.fh.read(n)
            read["bytes"] += len(data)
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def __getattr__(self, name):
            return getattr(self.fh, name)

    monkeypatch.setattr(gzip, "open", lambda *a, **kw: Spy(real_open(*a, **kw)))
    with pytest.raises(InputError, match="magic number 1234"):
        mnist.read_idx(f, "images")
    assert read["bytes"] < 1 << 16, read


def test_mnist_pixels_outside_0_255_are_refused(tmp_path):
    import numpy as np

    from qunlearn.data import mnist

    x = np.zeros((20, 28, 28))
    x[3, 4, 5] = -1e300
    y = np.array([1, 9] * 10)
    f = tmp_path / "mnist.npz"
    np.savez(f, x_train=x, y_train=y, x_test=x, y_test=y)
    with pytest.raises(InputError, match=r"pixel values must lie in 0\.\.255.*-1e\+300"):
        mnist.read_mnist_npz(f)


def test_a_learning_rate_that_rounds_to_zero_is_refused(tmp_path, capsys):
    mlp = QUICK["poison"].models["mlp"]
    with pytest.raises(InputError, match=r"rounds to 0 in complex64") as e:
        QUICK["poison"].replace(models={"mlp": mlp.replace(train=mlp.train.replace(lr=1e-46))})
    assert "lr" in (e.value.path or "") or "learning rate" in str(e.value)
    assert QUICK["poison"].replace(precision="complex128", models={
        "mlp": mlp.replace(train=mlp.train.replace(lr=1e-46))}).precision == "complex128"  # fine in float64
    assert run_cli(["poison", "--preset", "quick", "--model", "mlp", "--lr", "1e-46", "--out",
                    str(tmp_path / "run")]) == 2
    assert "rounds to 0" in capsys.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("lr", [1e-40, 1e-39])
def test_a_subnormal_learning_rate_is_refused(lr, tmp_path, capsys):
    """A float32 subnormal survives the cast but XLA flushes it (and every update it scales) to 0: no learning."""
    import jax
    import jax.numpy as jnp

    flushed = jax.jit(lambda a, b: a * b)(jnp.float32(lr), jnp.float32(1.0))
    assert float(flushed) == 0.0  # the flush this guards against
    mlp = QUICK["poison"].models["mlp"]
    with pytest.raises(InputError, match=r"subnormal in complex64.*flushes it to 0"):
        QUICK["poison"].replace(models={"mlp": mlp.replace(train=mlp.train.replace(lr=lr))})
    assert run_cli(["poison", "--preset", "quick", "--model", "mlp", "--lr", str(lr), "--out",
                    str(tmp_path / "run")]) == 2
    assert "subnormal" in capsys.readouterr().err and not (tmp_path / "run").exists()
    QUICK["poison"].replace(models={"mlp": mlp.replace(train=mlp.train.replace(lr=2e-38))})  # normal: accepted


# ------------------------------------------------------------------ 7. kill -9 at random moments


def test_kill_9_at_random_moments_then_resume_gives_identical_tables(tmp_path, tiny_toml):
    """Trials at moments drawn (with a fixed seed) over a whole run: start-up, data, compilation, cells and
    tables. Each killed run is resumed by the same command and must end with the undisturbed run's tables."""
    import random

    args = ["poison", "--config", str(tiny_toml), "--model", "mlp", "--attack", "label-flip", "--alphas",
            "0,0.1,0.2,0.3", "--runs", "1", "--epochs", "20"]
    t0 = time.monotonic()
    ref = subprocess.run([EXE, *args, "--out", str(tmp_path / "ref")], capture_output=True, text=True)
    whole = time.monotonic() - t0
    assert ref.returncode == 0, ref.stderr
    tables = {t: (tmp_path / "ref" / t).read_bytes() for t in ("results.csv", "history.csv")}
    rng = random.Random(20261204)
    for trial in range(3):
        out = tmp_path / f"trial{trial}"
        proc = _start([*args, "--out", str(out)], tmp_path)
        time.sleep(rng.uniform(0.3, 1.0) * whole)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        again = subprocess.run([EXE, *args, "--out", str(out)], capture_output=True, text=True)
        assert again.returncode == 0 and "Traceback" not in again.stderr, (trial, again.stderr[-1500:])
        for t, data in tables.items():
            assert (out / t).read_bytes() == data, (trial, t)
        assert not list(out.rglob("*.tmp")), trial  # the killed run's temporary files are gone


# ------------------------------------------------------------------ found by a hostile probe of the CLI


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(finished, tmp_path, capsys):
    run, args, table = _copy(finished, tmp_path)
    precious = tmp_path / "passwd-copy"
    precious.write_text("root:x:0:0\n")
    (run / ".qunlearn.lock").symlink_to(precious)
    capsys.readouterr()
    assert run_cli(args) == 2
    assert "not qunlearn's lock file" in capsys.readouterr().err
    assert precious.read_text() == "root:x:0:0\n" and (run / ".qunlearn.lock").is_symlink()


def test_a_users_report_files_are_never_deleted_or_overwritten(finished, tmp_path, capsys):
    run, args, table = _copy(finished, tmp_path)
    (run / "report.md").write_text("my own notes")
    assert run_cli(["report", str(run)]) == 2
    assert "report.md was not written by qunlearn" in capsys.readouterr().err
    assert run_cli([*args, "--fresh"]) == 2  # --fresh refuses a run holding a file it did not write
    assert (run / "report.md").read_text() == "my own notes"
    (run / "report.md").unlink()
    assert run_cli(["report", str(run)]) in (0, None)  # its own report it rewrites freely
    assert run_cli(["report", str(run)]) in (0, None)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:99999", "tcp://127.0.0.1:abc"])
def test_a_scheduler_address_without_a_valid_port_is_one_line(tmp_path, capsys, address):
    pytest.importorskip("distributed")
    from qunlearn.executor import DaskExecutor

    with pytest.raises(InputError, match="no valid port"):
        DaskExecutor(scheduler=address)


def test_a_toml_date_in_data_options_is_refused_in_one_line(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text('preset = "quick"\n[mnist.poison]\ndata_options = {n_per_class = 1979-05-27}\n')
    assert run_cli(["poison", "--config", str(f), "--model", "mlp", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "n_per_class" in err and "date" in err, err


# ------------------------------------------------------------------ 3. cells computed from other data


def test_a_dataset_file_changed_between_a_stop_and_a_resume_is_refused(tmp_path, capsys):
    """A run records the content hash of the data it computed its cells from. A user's .npz edited between a stop
    and a resume used to be mixed in silently: the old cells were trusted, new ones computed from the new data."""
    import numpy as np
    from helpers import qnn_toy

    x, y = qnn_toy(4, 16, 0)
    xv, yv = qnn_toy(4, 8, 1)
    f, out = tmp_path / "mine.npz", tmp_path / "run"
    np.savez(f, x_train=x, y_train=y, x_val=xv, y_val=yv)
    args = ["poison", "--dataset", str(f), "--model", "mlp", "--attack", "label-flip", "--alphas", "0,0.25",
            "--runs", "1", "--epochs", "2", "--out", str(out)]
    assert run_cli(args) in (0, None)
    capsys.readouterr()
    done = _work(out)
    x[0] = x[1]  # the user edits the file
    np.savez(f, x_train=x, y_train=y, x_val=xv, y_val=yv)
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "computed from other data" in err and "--fresh" in err, err
    assert _work(out) == done  # nothing touched
    np.savez(f, x_train=x, y_train=y, x_val=xv, y_val=yv)
    assert run_cli(args + ["--fresh"]) in (0, None)  # the stated way out: start over from the new data
    assert run_cli(args) in (0, None)  # and the same data resumes as before
