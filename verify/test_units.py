"""Every enabled service's unit (systemd) or plist (launchd): loaded, active, enabled at boot."""

from __future__ import annotations

from typing import Any

import pytest

from homelab.services import Daemon
from verify import probes


@pytest.fixture
def state(host: Any, daemon: Daemon) -> dict[str, str]:
    return probes.unit_state(host, daemon)


def test_loaded(daemon: Daemon, state: dict[str, str]) -> None:
    found = state.get("LoadState")
    assert found == "loaded", f"{daemon.name}: expected {daemon.unit_path} loaded, found {found}"


def test_active(daemon: Daemon, state: dict[str, str]) -> None:
    found = state.get("ActiveState")
    assert found == "active", f"{daemon.name}: expected active, found {found}"


def test_enabled_at_boot(daemon: Daemon, state: dict[str, str]) -> None:
    found = state.get("UnitFileState")
    assert found == "enabled", f"{daemon.name}: expected enabled at boot, found {found}"
