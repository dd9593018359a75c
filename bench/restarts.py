"""A service restarted under a steady reader: how many requests were refused, failed or waited.

A socket-activated daemon's listening socket is its init system's (systemd's ``.socket``
unit), so requests that arrive while it restarts wait in that socket's queue for the new
process instead of being refused. This restarts one daemon on its lab host with a reader
polling its health page from the lab's machine (a new connection each time), and reports what
the reader saw. Used by ``bench/perf.py`` (``webui_restart_refused``, target 0) and by the lab
test ``tests/lab/test_restarts.py``.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from bench.lab import Lab
from bench.steady import SteadyReader, Window
from homelab.model import Platform
from homelab.services import Daemon

#: How long the service must answer, after its restart returned, before the reader stops.
SETTLED_S = 3.0
#: Beyond any start time seen here (Open WebUI: ~12 s on two cores).
CEILING_S = 180.0


#: A request that took longer than this waited for the restart.
DELAYED_S = 1.0


@dataclass(frozen=True)
class Restart:
    daemon: Daemon
    window: Window

    @property
    def refused(self) -> int:
        return len(self.window.refused)

    @property
    def delayed(self) -> int:
        return sum(1 for s in self.window.latencies() if s > DELAYED_S)

    @property
    def longest_wait_s(self) -> float:
        return max(self.window.latencies(), default=0.0)

    def summary(self) -> str:
        return (
            f"{self.daemon.name} restarted: {self.window.summary()}; {self.refused} refused, "
            f"{self.delayed} delayed over {DELAYED_S:.0f} s, the longest "
            f"{self.longest_wait_s:.1f} s"
        )


def first_enabled(platform: Platform, name: str) -> Daemon:
    """The first enabled daemon called ``name`` on any host."""
    for host in platform.hosts:
        for daemon in platform.daemons(host):
            if daemon.name == name and daemon.enabled:
                return daemon
    raise LookupError(f"no host runs {name}")


def url_of(platform: Platform, daemon: Daemon) -> str:
    """Its health page as a LAN client reaches it."""
    return f"http://{platform.addresses[daemon.host]}:{daemon.listener.port}{daemon.health}"


def restart_under_reader(lab: Lab, platform: Platform, daemon: Daemon) -> Restart:
    """``systemctl restart`` the daemon while a reader polls its health page, until it has
    answered for a few seconds again."""
    with SteadyReader(url=url_of(platform, daemon), timeout=60.0, pause=0.05) as reader:
        time.sleep(1.0)  # a few answers before
        lab.sh(daemon.host, f"systemctl restart {shlex.quote(daemon.unit)}", timeout=CEILING_S)
        restarted = time.monotonic()
        deadline = restarted + CEILING_S
        while time.monotonic() < deadline:
            answered = [o for o in reader.window(restarted).outcomes if o.status == 200]
            if answered and time.monotonic() - answered[0].started >= SETTLED_S:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{daemon.name} did not answer {CEILING_S:.0f} s after a restart")
    return Restart(daemon=daemon, window=reader.window())
