"""Rendering: the jinja2 environment, host files, and units/plists from daemon descriptions.

What each service renders lives in its module (``homelab/services/``); these are the entry
points that gather a host's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from homelab.render.files import HostFile

if TYPE_CHECKING:
    from homelab.model.base import Role
    from homelab.model.platform import Platform
    from homelab.services.base import Daemon


def daemon_files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    """A daemon's unit or plist and its configuration files."""
    from homelab import services

    return services.daemon_files(platform, daemon)


def host_files(platform: Platform, role: Role) -> list[HostFile]:
    """Every file a host receives."""
    from homelab import services

    return services.host_files(platform, role)


def write_tree(files: list[HostFile], out: Path) -> list[Path]:
    """Write each file at its host path under ``out`` (for review and diffs)."""
    written = []
    for f in files:
        target = out / f.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.content)
        written.append(target)
    return written


__all__ = ["HostFile", "daemon_files", "host_files", "write_tree"]
