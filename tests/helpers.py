"""Helpers shared by the CLI tests."""

import hashlib
from pathlib import Path

import pytest

from qunlearn import cli


def run_cli(args):
    """Run the CLI in-process; return the exit status."""
    with pytest.raises(SystemExit) as exc:
        cli.main(list(args))
    return exc.value.code


def snapshot(path: Path) -> dict:
    """sha256 of every file below ``path``: equal snapshots mean nothing was touched."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}
