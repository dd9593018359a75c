"""Every service restarts itself after a crash: its main process killed with SIGKILL, it comes
back under a new process and answers its health endpoint again. How fast is a figure of
``bench/perf.py`` (target 10 s); here the property is that it recovers at all, untouched."""

from __future__ import annotations

import os
from typing import Any

import pytest

from bench.lab import Lab
from bench.recovery import kill_and_time, services
from homelab.load import load_platform
from homelab.services import Daemon
from tests.lab.conftest import LAB_INVENTORY, deploy

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

SERVICES = services(load_platform(LAB_INVENTORY))


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> Lab:
    deploy()
    return Lab.load()


@pytest.mark.parametrize("daemon", SERVICES, ids=[f"{d.host}/{d.name}" for d in SERVICES])
def test_a_killed_service_comes_back_by_itself(converged: Lab, daemon: Daemon) -> None:
    result = kill_and_time(converged, daemon)
    print(f"{daemon.host}/{daemon.name}: answering again {result.seconds:.1f} s after SIGKILL")
    assert result.new_pid not in (0, result.killed_pid), (
        f"{daemon.name}: expected a new main process after the kill, found {result.new_pid}"
    )
