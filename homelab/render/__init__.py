"""Every file a host receives, rendered from the model."""

from __future__ import annotations

from pathlib import Path

from homelab.daemons import Daemon, daemons
from homelab.model import Platform, Role
from homelab.render import litellm, mcp, mlx, open_webui, optillm, ov_server, searxng
from homelab.render.files import HostFile
from homelab.render.units import service_file

_CONFIG = {
    "litellm": litellm.files,
    "open-webui": open_webui.files,
    "ov-server": ov_server.files,
    "searxng": searxng.files,
    "optillm": optillm.files,
}


def daemon_files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    """A daemon's unit or plist and its configuration files."""
    config = _CONFIG.get(daemon.name)
    return [service_file(daemon), *(config(platform, daemon) if config else [])]


def host_files(platform: Platform, role: Role) -> list[HostFile]:
    out: list[HostFile] = []
    for daemon in daemons(platform, role):
        out += daemon_files(platform, daemon)
    out += mcp.files(platform) if role == "mini" else mlx.files(platform)
    return out


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
