"""Lab tests: they need root and a kernel with namespaces; they drive ``homelab lab`` for real.

``lab`` gives a test the running lab's ``status --json`` (it runs ``homelab lab up`` first,
which returns at once when the lab is already up). The lab's own tests
(``test_lab_machine.py``) run first: they take the lab down and rebuild a host, which would
undo what a deploy test had put there; they end with the lab up.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.lab import run_lab as run_lab  # the lab tests take it from here
from homelab import PROJECT_ROOT
from homelab.lab.config import LAB_LOCK

LAB_MACHINE_TESTS = "test_lab_machine.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name != LAB_MACHINE_TESTS)


def ssh(host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One command on a lab host, as root."""
    return run_lab("ssh", host, command, timeout=timeout)


LAB_INVENTORY = PROJECT_ROOT / "lab" / "inventory.py"


def homelab(
    *args: str, inventory: Path = LAB_INVENTORY, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``homelab ARGS --inventory INVENTORY`` in a child process, as the operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "homelab.cli", *args, "--inventory", str(inventory)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def refused_deploy(inventory: Path) -> tuple[float, str]:
    """A deploy expected to be refused: its seconds and its output. Fails the test when it
    succeeds."""
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(inventory), "deploys/site.py", "-y"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - start
    assert result.returncode != 0, f"the deploy of {inventory} succeeded; expected a refusal"
    return seconds, result.stdout + result.stderr


def deploy(inventory: Path = LAB_INVENTORY, timeout: float = 3000) -> dict[str, Any]:
    """``pyinfra INVENTORY deploys/site.py -y``; its JSON results. Fails the test on error."""
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(inventory), "deploys/site.py", "-y", "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        log = Path(f"/tmp/homelab-deploy-failed-{inventory.parent.name}.log")
        log.write_text(result.stdout + result.stderr)
        # The first failure is far above the tail of a long run: show it first.
        errors = [
            line
            for line in result.stderr.splitlines()
            if "Error" in line or "error" in line or "refused" in line or "Traceback" in line
        ]
        raise AssertionError(
            f"deploy of {inventory} failed (whole output: {log}); first errors:\n"
            + "\n".join(errors[:15])
            + f"\n... its end:\n{result.stderr[-2500:]}"
        )
    results: dict[str, Any] = json.loads(result.stdout)["results"]
    return results


def changed(results: dict[str, Any]) -> list[str]:
    """Names of the operations that changed something on some host."""
    return [op["name"] for op in results["operations"] if op["success"]]


def lab_status() -> dict[str, Any]:
    result = run_lab("status", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


@pytest.fixture(scope="session", autouse=True)
def lab_lock() -> Iterator[None]:
    """The lab to this test session alone, from its first lab test to its last."""
    with LAB_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def lab() -> dict[str, Any]:
    """The lab, up: its ``status --json``."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    result = run_lab("up")
    if result.returncode != 0:
        pytest.fail(f"homelab lab up failed: {result.stderr.strip()}")
    return lab_status()
