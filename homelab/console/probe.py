"""What the model says a host holds, and the shell that reads it back in one round trip.

A probe is planned from the model alone (no host): the files the host should hold, the
daemons and where they listen. :func:`sections` splits the probe's output, which marks each
part with a ``@@ KIND NAME`` line.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from homelab.model import Platform, System
from homelab.render import HostFile, daemon_files, host_files
from homelab.services import Daemon, daemons

#: Begins each part of a probe's output.
MARK = "@@"

q = shlex.quote


def expected_files(platform: Platform, role: str) -> list[HostFile]:
    """Every file the host holds by the model, each path once.

    An enabled daemon's unit (or plist) and config files; a disabled daemon's unit alone (it
    is rendered and kept stopped, nothing else of it is placed); the host's shared files.
    """
    out: dict[str, HostFile] = {}
    of_daemons: set[str] = set()
    for daemon in daemons(platform, role):
        mine = daemon_files(platform, daemon)
        of_daemons.update(f.path for f in mine)
        for f in mine if daemon.enabled else mine[:1]:
            out.setdefault(f.path, f)
    for f in host_files(platform, role):
        if f.path not in of_daemons:
            out.setdefault(f.path, f)
    return list(out.values())


def platform_marker(platform: Platform, daemon: Daemon) -> str:
    """What every service file the platform renders says of itself, after the daemon's name.

    Taken from the rendered file (its first line naming the daemon: ``# litellm.service:
    rendered from the platform model; ...``), so it is whatever the templates say.
    """
    name = daemon.unit
    unit = daemon_files(platform, daemon)[0]
    for line in unit.content.splitlines():
        if name in line:
            marker = line.split(name, 1)[1].strip()
            if marker:
                return marker
    raise ValueError(f"{unit.path}: no line names {name} with a note after it")


def files_part(paths: Sequence[str], system: System) -> str:
    """``sha256 path`` for each file there, ``- path`` for each missing."""
    names = " ".join(q(p) for p in paths)
    return (
        f"echo '{MARK} files'\n"
        f'for f in {names}; do if [ -f "$f" ]; then {system.sha256} "$f"; '
        f'else echo "- $f"; fi; done\n'
    )


def sections(text: str) -> list[tuple[str, str, list[str]]]:
    """(kind, name, lines) for each ``@@ KIND [NAME]`` part of a probe's output."""
    out: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(f"{MARK} "):
            kind, _, name = line[len(MARK) + 1 :].partition(" ")
            out.append((kind, name, []))
        elif out:
            out[-1][2].append(line)
    return out
