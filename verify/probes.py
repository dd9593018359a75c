"""Small readers of host state the checks share (systemd and launchd, Linux and macOS)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from homelab.services import Daemon


def listening(host: Any, os: str) -> set[tuple[str, int]]:
    """(address, port) of each listening TCP socket on a host."""
    if os == "darwin":
        out = host.check_output("lsof -nP -iTCP -sTCP:LISTEN -Fn")
        pairs = re.findall(r"^n(\S+):(\d+)$", out, re.M)
    else:
        out = host.check_output("ss -Hltn")
        pairs = [
            (m.group(1), m.group(2))
            for line in out.splitlines()
            if (m := re.search(r"(\S+):(\d+)\s+\S+\s*$", line))
        ]
    found = set()
    for address, port in pairs:
        address = address.strip("[]")
        found.add(({"*": "0.0.0.0", "::": "0.0.0.0"}.get(address, address), int(port)))
    return found


def http_code(host: Any, url: str, timeout: int = 10) -> str:
    """The HTTP status a host gets from ``url`` ("000": no connection)."""
    result = host.run(
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time {timeout} {shlex.quote(url)}"
    )
    return str(result.stdout.strip() or "000")


def unit_state(host: Any, daemon: Daemon) -> dict[str, str]:
    """What the init system says of a daemon: loaded, active, enabled, restarts, memory."""
    if daemon.os == "darwin":
        result = host.run(f"launchctl print system/{daemon.label}")
        text = result.stdout
        running = re.search(r"^\s*state = (\S+)", text, re.M)
        runs = re.search(r"^\s*runs = (\d+)", text, re.M)
        return {
            "LoadState": "loaded" if result.rc == 0 else "not-found",
            "ActiveState": "active" if running and running.group(1) == "running" else "inactive",
            # launchd loads a daemon at boot when its plist is in LaunchDaemons and enabled.
            "UnitFileState": "enabled" if result.rc == 0 else "disabled",
            "NRestarts": str(max(int(runs.group(1)) - 1, 0)) if runs else "0",
            "MemoryCurrent": "[not set]",
        }
    out = host.check_output(
        f"systemctl show -p LoadState -p ActiveState -p UnitFileState -p NRestarts "
        f"-p MemoryCurrent -p ControlGroup {daemon.unit}"
    )
    state: dict[str, str] = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if not state.get("MemoryCurrent", "").isdigit() and state.get("ControlGroup"):
        # No memory accounting (a container without the controller): sum its processes' RSS.
        procs = f"/sys/fs/cgroup/unified{state['ControlGroup']}/cgroup.procs"
        kib = host.run(
            f"cat {procs} 2>/dev/null | xargs -r ps -o rss= -p | awk '{{s+=$1}} END {{print s+0}}'"
        ).stdout.strip()
        if kib.isdigit() and int(kib) > 0:
            state["MemoryCurrent"] = str(int(kib) * 1024)
    return state
