"""What every host needs before its services: the platform's directories and the secret store."""

from __future__ import annotations

import posixpath

from pyinfra.api.deploy import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import host
from pyinfra.facts.files import FindFiles
from pyinfra.operations import server

from deploys.loops import each
from deploys.state import directory, exists, gather
from deploys.toolchain import Tools, install_toolchain, tools_for
from homelab.model import Layout, Platform
from homelab.secrets import GENERATE, refusal
from homelab.services import daemons


def prepare(
    platform: Platform,
    role: str,
    more_paths: tuple[str, ...] = (),
    more_users: tuple[str, ...] = (),
) -> Tools:
    """The base every service of a host stands on: directories, secrets, uv and Python.

    ``more_paths`` and ``more_users``: what its services' deploys consult besides their
    daemons' files, asked in the same snapshot."""
    h = platform.host(role)
    # What the host holds, in one round trip: the steps consult it.
    gather(platform, role, more_paths, more_users)
    refuse_unknown_secrets(platform, role)
    platform_directories(platform=platform, role=role)
    secret_store(platform=platform, role=role)
    install_toolchain(layout=h.layout, toolchain=h.toolchain, system=h.system)
    return tools_for(h.layout, h.toolchain, h.system)


def stored(layout: Layout) -> set[str]:
    """The names in the host's secret store (a plan-time fact; empty on a new host).

    Asked once per host and run: pyinfra asks a fact again for each caller."""
    key = (host.name, layout.secret_store)
    if key not in _STORED:
        _STORED[key] = _stored(layout)
    return _STORED[key]


_STORED: dict[tuple[str, str], set[str]] = {}


def _stored(layout: Layout) -> set[str]:
    if not exists(layout.secret_store):
        return set()  # find on a missing folder fails, and a failed fact fails the host
    found = host.get_fact(FindFiles, path=layout.secret_store, maxdepth=1)
    return {posixpath.basename(path) for path in found}


class SecretRefused(PyinfraError):
    """The data names a secret the host never had, for a service that has its secrets."""


def refuse_unknown_secrets(platform: Platform, role: str) -> None:
    """Stop the host's deploy, before any operation, on a secret a running service never had.

    A service whose secrets env file is on the host already runs on its secrets; a name the
    store lacks is a rename or a typo, and generating it would replace the secret its clients
    hold. New services (no env file yet) get their secrets generated as before. The facts are
    the store's names and the env files, gathered at plan time.
    """
    have = stored(platform.host(role).layout)
    settled = {
        daemon.name: {ref.env for ref in daemon.secrets.values()}
        for daemon in daemons(platform, role)
        if daemon.enabled and daemon.secrets_env and exists(daemon.secrets_env)
    }
    message = refusal(settled, have)
    if message:
        raise SecretRefused(message)


@deploy("Platform directories")
def platform_directories(platform: Platform, role: str) -> None:
    h = platform.host(role)
    layout, group = h.layout, h.os.root_group
    for path in (layout.etc, layout.opt, layout.state, layout.logs):
        directory(path, "root", group, "0755")
    # Secrets: the store is root's alone. The env files' folder lets each service's user reach
    # its own 0600 file by name (the gateway reads its own again at a reload), lists nothing.
    directory(layout.secrets, "root", group, h.os.secrets_dir_mode)
    directory(layout.secret_store, "root", group, "0700")


@deploy("Secret store")
def secret_store(platform: Platform, role: str) -> None:
    """Each secret the host's services use, generated once; one set beforehand is kept."""
    refs = {
        ref.env: ref
        for daemon in daemons(platform, role)
        if daemon.enabled
        for ref in daemon.secrets.values()
    }
    layout = platform.host(role).layout
    have = stored(layout)
    for name in each(sorted(refs)):
        path = layout.secret_file(name)
        if name in have:
            continue  # generated earlier, or set by the operator: never replaced
        server.shell(
            name=f"Generate secret {name}",
            commands=[f"umask 077 && test -s {path} || {GENERATE} > {path}"],
        )
