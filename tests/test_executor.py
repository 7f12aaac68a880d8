"""The Dask executor for real: a LocalCluster of 2 worker processes on loopback.

The same sweep through the local executor and through Dask must give the same
results table, and a worker killed mid-sweep must cost only its cell, which
is retried on another worker.
"""

import os
import signal
from dataclasses import replace

import pandas as pd
import pytest

from qunlearn.config import preset_configs
from qunlearn.errors import InputError
from qunlearn.executor import DaskExecutor, LocalExecutor, make_executor
from qunlearn.experiments import poisoning
from qunlearn.runs import RunDir

pytest.importorskip("distributed")


def tiny_cfg(alphas=(0.0, 0.2, 0.4)):
    cfg = preset_configs("quick", "mnist")["poison"]
    models = {k: cfg.models[k].replace(train=cfg.models[k].train.replace(epochs=3, batch_size=64, eval_every=3))
              for k in ("qnn", "mlp")}
    models["qnn"] = models["qnn"].replace(spec=replace(models["qnn"].spec, depth=2))
    return cfg.replace(attacks=("label-flip",), alphas=alphas, runs=2, data_options={"n_per_class": 40},
                       models=models)


def sweep(tmp_path, name, executor, on_cell=None):
    cfg = tiny_cfg()
    run_dir = RunDir(tmp_path / name, poisoning.NAME, cfg.to_dict())
    history = poisoning.run(cfg, run_dir, on_cell=on_cell, executor=executor).history
    return history, run_dir


@pytest.fixture(scope="module")
def cluster():
    with DaskExecutor(workers=2) as ex:
        yield ex


@pytest.fixture(scope="module")
def local_history(tmp_path_factory):
    history, _ = sweep(tmp_path_factory.mktemp("local"), "run", LocalExecutor())
    return history


def _sorted(t: pd.DataFrame) -> pd.DataFrame:
    return t.sort_values(list(t.columns[:-1])).reset_index(drop=True)


def test_dask_matches_local(cluster, local_history, tmp_path):
    assert "2 workers" in cluster.describe() and "loopback" in cluster.describe()
    history, run_dir = sweep(tmp_path, "dask", cluster)
    pd.testing.assert_frame_equal(_sorted(history), _sorted(local_history))
    on_disk = pd.read_csv(run_dir.path / "results.csv")
    assert len(on_disk) == len(poisoning.final_table(local_history))
    assert len(list(run_dir.cells_dir.glob("*.csv"))) == 6
    # resume through dask: nothing is recomputed
    seen = []
    sweep(tmp_path, "dask", cluster, on_cell=lambda c, s, t: seen.append(s))
    assert seen == ["skipped"] * 6


def test_killed_worker_loses_only_its_cell(cluster, local_history, tmp_path):
    pids = cluster.client.run(os.getpid)
    seen = []

    def on_cell(cell, status, seconds):
        seen.append(status)
        if len(seen) == 1:  # other cells are in flight on both workers: kill one worker process outright
            os.kill(next(iter(pids.values())), signal.SIGKILL)

    history, run_dir = sweep(tmp_path, "killed", cluster, on_cell=on_cell)
    assert seen == ["done"] * 6
    pd.testing.assert_frame_equal(_sorted(history), _sorted(local_history))
    assert set(cluster.client.run(os.getpid).values()).isdisjoint([next(iter(pids.values()))])


def test_executor_arguments_are_checked():
    with pytest.raises(InputError, match="unknown executor"):
        make_executor("spark")
    with pytest.raises(InputError, match="--executor dask only"):
        make_executor("local", workers=2)
    with pytest.raises(InputError, match="either --scheduler"):
        make_executor("dask")
    with pytest.raises(InputError, match="positive integer"):
        make_executor("dask", workers=0)


def test_a_stop_request_is_never_lost():
    """SIGTERM raises KeyboardInterrupt at once and also flags the stop: if the exception is swallowed
    (it can land in a finaliser or a callback), the local executor raises it again before the next cell."""
    import signal

    from qunlearn import cli, executor as ex_mod
    from qunlearn.executor import LocalExecutor

    previous = signal.getsignal(signal.SIGTERM)
    ran = []
    try:
        cli._stop_on_sigterm()
        handler = signal.getsignal(signal.SIGTERM)

        def cell(i):
            ran.append(i)
            if i == 0:
                try:  # the handler's exception, swallowed where it landed
                    handler(signal.SIGTERM, None)
                except KeyboardInterrupt:
                    pass
            return i

        tasks = [(f"c{i}", cell, (i,)) for i in range(3)]
        got = []
        with pytest.raises(KeyboardInterrupt):
            for cid, result, _ in LocalExecutor().map(tasks):
                got.append(cid)
        assert ran == [0] and got == ["c0"]  # cell 0 finished and was handed back; cell 1 never started
    finally:
        signal.signal(signal.SIGTERM, previous)
        ex_mod._STOP.clear()


def test_a_users_own_data_and_model_run_on_dask_as_locally(cluster, tmp_path):
    """A notebook's objects (a Dataset from from_arrays, a model class defined in the notebook, so pickled by
    value) go to the workers and give the tables the local executor gives."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import qunlearn as ql
    from qunlearn.data import from_arrays

    class Mine:  # defined here, not importable by a worker: cloudpickle ships it by value
        def init(self, key):
            return {"w": 0.1 * jax.random.normal(key, (8,)), "b": jnp.zeros(())}

        def apply(self, params, x):
            return jax.nn.sigmoid(jnp.real(x) @ params["w"] + params["b"])

    r = np.random.default_rng(3)
    x = r.normal(size=(48, 8))
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)
    ds = from_arrays(x[:32], y[:32], x[32:], y[32:], name="mine")
    kw = dict(preset="quick", dataset=ds, models={"mine": Mine(), "mlp": "mlp"}, alphas=[0.0, 0.3], runs=1,
              epochs=2, attacks=["label-flip"], quiet=True)
    here = ql.run("poison", out=tmp_path / "local", **kw)
    there = ql.run("poison", out=tmp_path / "dask", executor="dask", scheduler=cluster.client.scheduler.address, **kw)
    assert set(here.results["model"]) == {"mine", "mlp"}
    pd.testing.assert_frame_equal(_sorted(there.results), _sorted(here.results))
