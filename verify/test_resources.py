"""Each service's memory and restart count, reported (JUnit properties and the summary); a
daemon its init system restarted by itself more than a crash rehearsal explains fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homelab.services import Daemon
from verify import probes

#: Automatic restarts a daemon may have had since it was last started on purpose (systemd's
#: NRestarts counts those; a deploy's or an operator's start resets it). Not 0: the crash
#: rehearsals (tests/lab/test_crash_recovery.py, bench/perf.py) each kill every service once and
#: leave it to come back by itself. A crash loop (Restart=always, RestartSec=1) passes it within
#: seconds.
MAX_RESTARTS = 2


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
    # launchd's count is of every launch since the plist was loaded, a deploy's restarts
    # (kickstart -k) included: reported only, it cannot tell crashes from deploys.
    if daemon.system.init.counts_own_restarts:
        assert int(restarts) <= MAX_RESTARTS, (
            f"{daemon.name}: expected at most {MAX_RESTARTS} automatic restarts since its last "
            f"start, found {restarts} (crashing and restarted by {daemon.system.init.name}?)"
        )
    if memory.isdigit():
        record_property("memory_mib", round(int(memory) / 2**20, 1))
    print(f"{daemon.host}/{daemon.name}: memory {memory} bytes, restarts {restarts}")
