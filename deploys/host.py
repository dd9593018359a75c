"""What every host needs before its services: the platform's directories and the secret store."""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import server

from deploys.state import directory, exists, gather
from deploys.toolchain import Tools, install_toolchain, tools_for
from homelab.model import Platform, Role
from homelab.services import daemons


def prepare(platform: Platform, role: Role) -> Tools:
    """The base every service of a host stands on: directories, secrets, uv and Python."""
    h = platform.host(role)
    gather(platform, role)  # what the host holds, in one round trip: the steps consult it
    platform_directories(platform=platform, role=role)
    secret_store(platform=platform, role=role)
    install_toolchain(layout=h.layout, toolchain=h.toolchain, os=h.os)
    return tools_for(h.layout, h.toolchain, h.os)


@deploy("Platform directories")
def platform_directories(platform: Platform, role: Role) -> None:
    layout = platform.host(role).layout
    group = "wheel" if platform.host(role).os == "darwin" else "root"
    for path in (layout.etc, layout.opt, layout.state, layout.logs):
        directory(path, "root", group, "0755")
    # Secrets: root only. systemd reads the env files as root before it drops privileges.
    for path in (layout.secrets, layout.secret_store):
        directory(path, "root", group, "0700")


@deploy("Secret store")
def secret_store(platform: Platform, role: Role) -> None:
    """Each secret the host's services use, generated once; one set beforehand is kept."""
    refs = {
        ref.env: ref
        for daemon in daemons(platform, role)
        if daemon.enabled
        for ref in daemon.secrets.values()
    }
    layout = platform.host(role).layout
    for name in sorted(refs):
        path = layout.secret_file(name)
        if exists(path):
            continue  # generated earlier, or set by the operator: never replaced
        server.shell(
            name=f"Generate secret {name}",
            commands=[
                f"umask 077 && test -s {path} || head -c 32 /dev/urandom | od -An -tx1 "
                f"| tr -d ' \\n' > {path}"
            ],
        )
