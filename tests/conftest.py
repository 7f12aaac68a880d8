import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's XXZ cache out of the user's cache directory."""
    if ("QUNLEARN_CACHE_DIR" not in os.environ
            or not os.environ["QUNLEARN_CACHE_DIR"].startswith(str(tmp_path_factory.getbasetemp()))):
        monkeypatch.setenv("QUNLEARN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "xxz-cache"))
    # compiled programs are shared by the tests of one session (both xdist workers: entries are written
    # atomically), so a command a test runs again in a new process compiles nothing; never the user's cache
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    monkeypatch.setenv("QUNLEARN_COMPILE_CACHE", str(shared / "compile-cache"))
