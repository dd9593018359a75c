"""The commands the benchmarks send a host's init system, each kept here beside its kind.

The lab's hosts run systemd (Linux containers, the Macs' stand-ins too); the benchmarks that
start transient units or time a crash need it, and say so where a host runs anything else.
"""

from __future__ import annotations

import shlex

from homelab.model import Platform
from homelab.services import Daemon


class NotInTheLab(RuntimeError):
    """A benchmark step asked of a host whose init system the lab does not run."""


def main_pid_command(daemon: Daemon) -> str:
    """A shell command printing the daemon's main PID (0: not running)."""
    unit = shlex.quote(daemon.unit)
    if daemon.system.init.name == "systemd":
        return f"systemctl show -p MainPID --value {unit}"
    # launchd prints "pid = N" only while the job runs.
    return (
        f"launchctl print system/{unit} 2>/dev/null "
        '| awk \'$1 == "pid" && $2 == "=" {p = $3} END {print p + 0}\''
    )


def children_command(daemon: Daemon, pid: str) -> str:
    """A shell command printing the child PIDs of process ``pid`` (a shell word) of ``daemon``."""
    if daemon.system.name == "linux":
        return f"cat /proc/{pid}/task/{pid}/children"
    return f"pgrep -P {pid} || true"


def restarts_by_itself(daemon: Daemon) -> bool:
    """Whether a crash of it can be timed here: systemd's ``Restart=always`` brings it back
    (launchd's KeepAlive is not in the lab, and the timing script reads systemd's state)."""
    return daemon.system.init.name == "systemd"


def require_systemd(platform: Platform, host: str, what: str) -> None:
    """Refuse ``what`` on a host whose init system is not systemd (transient units)."""
    init = platform.host(host).os.init.name
    if init != "systemd":
        raise NotInTheLab(f"{host}: {what} needs systemd (transient units), {host} runs {init}")
