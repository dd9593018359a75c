"""What every host needs before its services: the platform's directories and the secret store."""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from deploys.toolchain import Tools, install_toolchain, tools_for
from homelab.daemons import daemons
from homelab.model import Platform, Role


def prepare(platform: Platform, role: Role) -> Tools:
    """The base every service of a host stands on: directories, secrets, uv and Python."""
    h = platform.host(role)
    platform_directories(platform=platform, role=role)
    secret_store(platform=platform, role=role)
    install_toolchain(layout=h.layout, toolchain=h.toolchain, os=h.os, packages=[])
    return tools_for(h.layout, h.toolchain, h.os)


@deploy("Platform directories")
def platform_directories(platform: Platform, role: Role) -> None:
    layout = platform.host(role).layout
    group = "wheel" if platform.host(role).os == "darwin" else "root"
    for path in (layout.etc, layout.opt, layout.state, layout.logs):
        files.directory(name=f"Directory {path}", path=path, user="root", group=group, mode="0755")
    # Secrets: root only. systemd reads the env files as root before it drops privileges.
    for path in (layout.secrets, layout.secret_store):
        files.directory(name=f"Directory {path}", path=path, user="root", group=group, mode="0700")


@deploy("Secret store")
def secret_store(platform: Platform, role: Role) -> None:
    """Each secret the host's services use, generated once; one set beforehand is kept."""
    refs = {
        ref.env: ref
        for daemon in daemons(platform, role)
        if daemon.enabled
        for ref in daemon.secrets.values()
    }
    store = platform.host(role).layout.secret_store
    for name in sorted(refs):
        path = f"{store}/{name}"
        if host.get_fact(File, path=path):
            continue  # generated earlier, or set by the operator: never replaced
        server.shell(
            name=f"Generate secret {name}",
            commands=[
                f"umask 077 && test -s {path} || head -c 32 /dev/urandom | od -An -tx1 "
                f"| tr -d ' \\n' > {path}"
            ],
        )
