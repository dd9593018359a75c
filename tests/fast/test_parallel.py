"""``pytest -n 2`` works: loading the model leaves the standard library unpatched by gevent."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from gevent import monkey

import homelab.load  # imports pyinfra's CLI package, which asks gevent to patch everything
from homelab import PROJECT_ROOT


def test_loading_the_model_leaves_threading_unpatched() -> None:
    assert homelab.load.load_platform() is not None
    assert not monkey.is_module_patched("threading")
    assert not monkey.is_module_patched("socket")
    assert threading.Event.__module__ == "threading"


@pytest.mark.slow  # a whole pytest run with two workers (the fast suite itself runs on them)
def test_two_xdist_workers_run_tests_that_load_the_model() -> None:
    files = ["tests/fast/test_plist.py", "tests/fast/test_model_rules.py"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", *files],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "INTERNALERROR" not in run.stdout
    assert " passed" in run.stdout.splitlines()[-1]
