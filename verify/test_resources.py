"""Each service's memory and restart count, reported (JUnit properties and the summary)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homelab.services import Daemon
from verify import probes


def test_memory_and_restarts(
    daemon: Daemon, host: Any, record_property: Callable[[str, object], None]
) -> None:
    state = probes.unit_state(host, daemon)
    restarts = state.get("NRestarts", "")
    memory = state.get("MemoryCurrent", "")
    assert restarts.isdigit(), (
        f"{daemon.name}: expected a restart count, found {restarts!r} (unreadable)"
    )
    record_property("restarts", int(restarts))
    if memory.isdigit():
        record_property("memory_mib", round(int(memory) / 2**20, 1))
    print(f"{daemon.host}/{daemon.name}: memory {memory} bytes, restarts {restarts}")
