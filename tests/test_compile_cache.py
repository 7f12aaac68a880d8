"""The persistent compilation cache: where it lives, how it is switched off, and that a second
process compiles nothing the first one compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qunlearn import backend

CHILD = r"""
import json, sys
import jax, jax.numpy as jnp
from jax import monitoring
from qunlearn import backend
from qunlearn.models import QNN
from qunlearn.train import TrainConfig, supervised_program

events = {"hits": 0, "requests": 0}
def on_event(name, **kw):
    if name == "/jax/compilation_cache/cache_hits":
        events["hits"] += 1
    if name == "/jax/compilation_cache/compile_requests_use_cache":
        events["requests"] += 1
monitoring.register_event_listener(on_event)
where = backend.use_compile_cache(min_compile_seconds=0.0)
model = QNN(4, 2)
x = jnp.ones((1, 8, 16)) / 4.0
y = jnp.zeros((1, 8))
params, hist = supervised_program(model, TrainConfig(2, 4, 0.01, 1))(
    jax.random.PRNGKey(0)[None], x, y, y, y[0][None] * 0, x[0], y[0])
print(json.dumps({"dir": None if where is None else str(where), **events,
                  "val": float(hist["val_loss"][0, -1])}))
"""


def _child(env_value: str | None, tmp_path: Path) -> dict:
    env = dict(os.environ, QUNLEARN_CACHE_DIR=str(tmp_path / "root"))
    env.pop(backend.COMPILE_CACHE_ENV, None)
    if env_value is not None:
        env[backend.COMPILE_CACHE_ENV] = env_value
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "stderr": out.stderr}


def test_an_entry_truncated_by_a_killed_process_is_compiled_again_and_replaced(tmp_path):
    # a kill -9 while JAX writes an entry leaves it truncated; JAX itself warned on every later run and
    # never replaced it
    cache = tmp_path / "compiled"
    first = _child(str(cache), tmp_path)
    entries = sorted(cache.glob("*-cache"))
    assert entries
    whole = {p.name: p.read_bytes() for p in entries}
    for p in entries:
        p.write_bytes(whole[p.name][: len(whole[p.name]) // 2])
    second = _child(str(cache), tmp_path)
    assert "Error reading persistent compilation cache" not in second["stderr"]
    assert second["val"] == first["val"]
    assert sorted(p.name for p in cache.glob("*-cache")) == sorted(whole)
    assert all(len(p.read_bytes()) > len(whole[p.name]) // 2 for p in cache.glob("*-cache"))  # written anew
    third = _child(str(cache), tmp_path)
    assert third["hits"] == third["requests"] >= 1 and "Error reading" not in third["stderr"]
    assert not list(cache.glob(".*.tmp"))  # entries are written to a temporary file and renamed


def test_second_process_compiles_nothing_the_first_compiled(tmp_path):
    cache = tmp_path / "compiled"
    first = _child(str(cache), tmp_path)
    assert first["dir"] == str(cache) and first["requests"] >= 1 and first["hits"] == 0
    stored = sorted(p.name for p in cache.iterdir())
    assert stored, "nothing was written to the cache"
    second = _child(str(cache), tmp_path)
    assert second["hits"] == second["requests"] >= 1  # every program came from disk
    assert sorted(p.name for p in cache.iterdir()) == stored  # and nothing new was written
    assert second["val"] == first["val"]  # the same program, the same numbers


def test_default_place_and_opt_out(tmp_path, monkeypatch):
    monkeypatch.setenv("QUNLEARN_CACHE_DIR", str(tmp_path / "root"))
    monkeypatch.delenv(backend.COMPILE_CACHE_ENV, raising=False)
    assert backend.compile_cache_dir() == tmp_path / "root" / "jax"
    for off in ("off", "0", "no", "false", ""):
        monkeypatch.setenv(backend.COMPILE_CACHE_ENV, off)
        assert backend.compile_cache_dir() is None
        assert backend.use_compile_cache() is None
    monkeypatch.setenv(backend.COMPILE_CACHE_ENV, str(tmp_path / "mine"))
    assert backend.compile_cache_dir() == tmp_path / "mine"


def test_switched_off_writes_nothing(tmp_path):
    got = _child("off", tmp_path)
    assert got["dir"] is None and got["hits"] == 0
    assert not (tmp_path / "root" / "jax").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_cache_directory_leaves_the_cache_off(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert backend.use_compile_cache(ro / "sub") is None
    finally:
        ro.chmod(0o700)
