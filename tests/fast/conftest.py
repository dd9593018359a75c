"""Fixtures of the fast tests that need a tool from Debian."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

#: apt waits this long for another apt (a parallel test worker, say) to let go of its lock.
APT = ["apt-get", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300"]


@pytest.fixture(scope="session")
def dot() -> str:
    """Graphviz's ``dot``, installed from Debian's ``graphviz`` package when it is missing."""
    found = shutil.which("dot")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*APT, "install", "--no-install-recommends", "graphviz"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # an old or empty package list: refresh it once
        subprocess.run([*APT, "update"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    found = shutil.which("dot")
    if not found:
        pytest.fail(f"could not install Debian's graphviz (needs root): {done.stderr.strip()}")
    return found
