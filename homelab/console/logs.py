"""``homelab logs SERVICE``: a daemon's log, from the host the model runs it on.

journald on Linux (``journalctl -u UNIT``); on macOS the files its plist sends its output to
(``StandardOutPath`` / ``StandardErrorPath``, under the layout's logs directory), read with tail.
"""

from __future__ import annotations

import plistlib
import sys
from pathlib import Path
from typing import TextIO

from homelab.console.connect import Unreachable, connected
from homelab.load import load_platform
from homelab.model import Platform
from homelab.render import daemon_files
from homelab.services import Daemon, daemons


class UnknownService(Exception):
    """A name no daemon of the model has; the message lists the names it knows."""


def find(platform: Platform, name: str) -> Daemon:
    """The daemon ``name`` names: its name or its unit (``litellm.service``, a launchd label),
    or ``HOST/NAME`` where several hosts run one of that name (a replica's server)."""
    every = [d for host in platform.hosts for d in daemons(platform, host)]
    on, _, bare = name.rpartition("/")
    found = [d for d in every if bare in (d.name, d.unit) and on in ("", d.host)]
    if len(found) == 1:
        return found[0]
    if found:
        where = ", ".join(f"{d.host}/{d.name}" for d in found)
        raise UnknownService(f"{name!r} runs on {len(found)} hosts: name one of {where}")
    known = ", ".join(sorted({d.name for d in every}))
    raise UnknownService(f"no service {name!r} in the model; services: {known}")


def log_files(platform: Platform, daemon: Daemon) -> list[str]:
    """Where launchd writes a daemon's output, as its rendered plist says."""
    plist = plistlib.loads(daemon_files(platform, daemon)[0].content.encode())
    paths = [plist.get("StandardOutPath"), plist.get("StandardErrorPath")]
    return list(dict.fromkeys(p for p in paths if isinstance(p, str)))


def command(platform: Platform, daemon: Daemon, lines: int, follow: bool) -> str:
    files = log_files(platform, daemon) if daemon.system.init.logs_to_files else []
    return daemon.system.init.logs_command(daemon.unit, files, lines, follow)


def show(
    inventory: Path | str, name: str, lines: int, follow: bool, out: TextIO = sys.stdout
) -> None:
    """Print the last ``lines`` lines of the service's log; with ``follow``, then what comes."""
    platform = load_platform(inventory)
    daemon = find(platform, name)
    with connected(inventory, [daemon.host]) as remotes:
        ok = remotes[daemon.host].stream(command(platform, daemon, lines, follow), out)
    if not ok:
        raise Unreachable(f"{daemon.host}: reading the log of {daemon.name} failed")
