"""Small readers of host state the checks share, for every host's system and init system.

:func:`prefetch` asks a host, in one round trip, what the checks will ask of it one by one
(each daemon's unit state and memory, each URL's status); the readers answer from it when they
can and ask the host themselves otherwise.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import Any

from homelab.model import Platform, System
from homelab.services import Daemon

#: (host, url, timeout) -> HTTP status; (host, unit) -> systemd properties. Filled by prefetch.
_CODES: dict[tuple[int, str, int], str] = {}
_UNITS: dict[tuple[int, str], dict[str, str]] = {}
_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState", "NRestarts", "MemoryCurrent")

#: Seconds a host waits for a loopback-only port that should not answer.
REFUSED_TIMEOUT = 3
HEALTH_TIMEOUT = 10
#: LiteLLM's readiness endpoint, beside its health endpoint (liveliness).
GATEWAY_READINESS = "/health/readiness"


def _curl(url: str, timeout: int) -> str:
    return f"curl -s -o /dev/null -w '%{{http_code}}' --max-time {timeout} {shlex.quote(url)}"


def batched_units(daemons: Iterable[Daemon]) -> list[str]:
    """The units :func:`prefetch` can read in its one round trip: systemd's, whose
    ``systemctl show`` answers for many at once; launchd's are read one by one."""
    return [d.unit for d in daemons if d.system.init.name == "systemd"]


def prefetch(host: Any, units: Iterable[str], urls: Iterable[tuple[str, int]]) -> None:
    """Ask ``host`` once for the state of ``units`` (systemd) and the status of ``urls``."""
    units, urls = list(units), list(dict.fromkeys(urls))
    lines = []
    for i, (url, timeout) in enumerate(urls):
        lines.append(f"printf 'H\\t{i}\\t%s\\n' \"$({_curl(url, timeout)})\" &")
    lines.append("wait")
    for unit in units:
        props = " ".join(f"-p {p}" for p in (*_PROPERTIES, "ControlGroup"))
        lines.append(
            f"printf 'U\\t%s\\n' {shlex.quote(unit)}; systemctl show {props} {shlex.quote(unit)}"
        )
        # No memory accounting (a container without the controller): its processes' RSS.
        lines.append(
            f"cg=$(systemctl show -p ControlGroup --value {shlex.quote(unit)}); "
            'f="/sys/fs/cgroup/unified$cg/cgroup.procs"; '
            '[ -n "$cg" ] && [ -r "$f" ] && echo "RSS=$(xargs -r ps -o rss= -p < "$f" '
            "| awk '{s+=$1} END {print s+0}')\""
        )
    result = host.run("\n".join(lines))
    # Read into this host's own tables, then added whole: hosts are asked side by side.
    codes: dict[tuple[int, str, int], str] = {}
    units_read: dict[tuple[int, str], dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in result.stdout.splitlines():
        if line.startswith("H\t"):
            _, index, code = line.split("\t", 2)
            url, timeout = urls[int(index)]
            codes[(id(host), url, timeout)] = code.strip() or "000"
        elif line.startswith("U\t"):
            current = {}
            units_read[(id(host), line.split("\t", 1)[1])] = current
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
    for state in units_read.values():
        rss = state.pop("RSS", "")
        if not state.get("MemoryCurrent", "").isdigit() and rss.isdigit() and int(rss) > 0:
            state["MemoryCurrent"] = str(int(rss) * 1024)
    _CODES.update(codes)
    _UNITS.update(units_read)


#: A listening socket's local ``address:port`` column, as ``ss -Hltn`` and ``lsof -nP`` print
#: it (``127.0.0.1:8888``, ``[::1]:4000``, ``*:22``); a peer column (``0.0.0.0:*``) has no port.
_SOCKET = re.compile(r"^(?P<address>\S+):(?P<port>\d+)$")
#: Wildcard spellings, as one address.
_ANY = {"*": "0.0.0.0", "::": "0.0.0.0"}


def parse_listening(out: str) -> set[tuple[str, int]]:
    """(address, port) of each listening TCP socket in a system's ``listening`` output."""
    found = set()
    for line in out.splitlines():
        for column in line.split():
            match = _SOCKET.match(column)
            if match:
                address = match.group("address").strip("[]")
                found.add((_ANY.get(address, address), int(match.group("port"))))
                break
    return found


def listening(host: Any, system: System) -> set[tuple[str, int]]:
    """(address, port) of each listening TCP socket on a host."""
    return parse_listening(host.check_output(system.listening))


def http_code(host: Any, url: str, timeout: int = HEALTH_TIMEOUT) -> str:
    """The HTTP status a host gets from ``url`` ("000": no connection)."""
    known = _CODES.get((id(host), url, timeout))
    if known is not None:
        return known
    return str(host.run(_curl(url, timeout)).stdout.strip() or "000")


def _launchd_state(host: Any, daemon: Daemon) -> dict[str, str]:
    result = host.run(f"launchctl print system/{shlex.quote(daemon.unit)}")
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


def _systemd_state(host: Any, daemon: Daemon) -> dict[str, str]:
    known = _UNITS.get((id(host), daemon.unit))
    if known is not None:
        return dict(known)
    out = host.check_output(
        f"systemctl show -p LoadState -p ActiveState -p UnitFileState -p NRestarts "
        f"-p MemoryCurrent -p ControlGroup {shlex.quote(daemon.unit)}"
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


def unit_state(host: Any, daemon: Daemon) -> dict[str, str]:
    """What the init system says of a daemon, in systemd's words: loaded, active, enabled,
    restarts, memory."""
    if daemon.system.init.name == "launchd":
        return _launchd_state(host, daemon)
    return _systemd_state(host, daemon)


def lan_url(platform: Platform, daemon: Daemon) -> str:
    """Its health URL as another host reaches it: at its host's address."""
    return f"http://{platform.addresses[daemon.host]}:{daemon.listener.port}{daemon.health}"
