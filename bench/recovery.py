"""Crash recovery: each service's main process killed with SIGKILL, timed until it answers
its health endpoint again (systemd's ``Restart=always`` brings it back; nothing else helps).

Used by ``bench/perf.py`` for the figures (target: answering again within 10 s) and by the
lab test that proves every service comes back by itself.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bench.lab import Lab
from bench.units import main_pid_command, restarts_by_itself
from homelab.model import Platform
from homelab.services import Daemon

#: The reliability target: a crashed service answers again within this many seconds.
TARGET_SECONDS = 10.0
#: How long to wait before calling a service lost (well beyond any start time seen here).
CEILING_SECONDS = 120.0


@dataclass(frozen=True)
class Recovery:
    daemon: Daemon
    killed_pid: int
    new_pid: int
    seconds: float


def main_pid(lab: Lab, daemon: Daemon) -> int:
    out = lab.sh(daemon.host, main_pid_command(daemon))
    return int(out.strip() or 0)


def kill_and_time(lab: Lab, daemon: Daemon, ceiling: float = CEILING_SECONDS) -> Recovery:
    """SIGKILL the daemon's main process, then poll its health endpoint from its own host.

    The time runs from the kill to the first 2xx answer, measured on the host itself so the
    ssh round trips do not count.
    """
    pid = main_pid(lab, daemon)
    if pid <= 0:
        raise RuntimeError(f"{daemon.name}: not running before the kill")
    url = shlex.quote(daemon.health_url)
    # Its other processes (a server's workers) may answer for a moment after the main one
    # died, until systemd stops them: only an answer once a new main process runs counts.
    script = (
        f"kill -KILL {pid}; start=$(date +%s%N); "
        f'until pid=$({main_pid_command(daemon)}) && [ "$pid" != 0 ] '
        f'&& [ "$pid" != {pid} ] && curl -fsS -o /dev/null --max-time 2 {url} 2>/dev/null; do '
        f"  [ $(( ($(date +%s%N) - start) / 1000000000 )) -ge {int(ceiling)} ] && exit 3; "
        "  sleep 0.1; done; "
        "echo $(( ($(date +%s%N) - start) / 1000000 ))"
    )
    try:
        out = lab.sh(daemon.host, script, timeout=ceiling + 30)
    except RuntimeError as error:
        raise RuntimeError(
            f"{daemon.name}: not answering {daemon.health} {ceiling:.0f} s after SIGKILL"
        ) from error
    millis = int(out.strip().splitlines()[-1])
    return Recovery(daemon, pid, main_pid(lab, daemon), millis / 1000)


def services(platform: Platform) -> list[Daemon]:
    """Every enabled daemon of every host whose crash can be timed here (see
    :func:`bench.units.restarts_by_itself`)."""
    return [d for d in platform.enabled_daemons() if restarts_by_itself(d)]
