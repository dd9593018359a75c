"""What every host needs before its services: the platform's directories and the secret store."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from homelab.model.services import Layout


@deploy("Platform directories")
def platform_directories(layout: Layout, os: str) -> None:
    group = "wheel" if os == "darwin" else "root"
    for path in (layout.etc, layout.opt, layout.state, layout.logs):
        files.directory(name=f"Directory {path}", path=path, user="root", group=group, mode="0755")
    # Secrets: root only. systemd reads the env files as root before it drops privileges.
    for path in (layout.secrets, f"{layout.secrets}/store"):
        files.directory(name=f"Directory {path}", path=path, user="root", group=group, mode="0700")
