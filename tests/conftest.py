import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's XXZ cache out of the user's cache directory."""
    if ("QUNLEARN_CACHE_DIR" not in os.environ
            or not os.environ["QUNLEARN_CACHE_DIR"].startswith(str(tmp_path_factory.getbasetemp()))):
        monkeypatch.setenv("QUNLEARN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "xxz-cache"))
    # no compiled programs on disk in tests, unless a test asks for them (test_backend's cache tests)
    monkeypatch.setenv("QUNLEARN_COMPILE_CACHE", "off")
