"""A service's secrets env file, written on the host from the host's secret store."""

from __future__ import annotations

from typing import Any

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from deploys.files import put
from deploys.state import exists, running
from homelab.model import Daemon, HostFile, System
from homelab.model.base import SecretRef
from homelab.model.common import Layout
from homelab.secrets import env_writer, names_of


def secrets_env(daemon: Daemon) -> list[OperationMeta]:
    """The service's 0600 env file of secrets, written on the host from the host's secret store.

    Values never leave the host: the store is filled there (see ``deploys/host.py``) and a shell
    on the host copies each value into the env files of the services that use it
    (``homelab.secrets.write_env``, which ``homelab rotate`` and ``restore`` use too).
    """
    if not daemon.secrets_env:
        return []
    # Where only root reads it (launchd's shell reads it, then becomes the daemon): root's group.
    group = daemon.user if daemon.system.init.holds_sockets else daemon.system.root_group
    return secrets_file(
        daemon.secrets_env, daemon.secrets, daemon.layout, daemon.user, group, daemon.system
    )


def secrets_file(
    env: str, refs: dict[str, SecretRef], layout: Layout, user: str, group: str, system: System
) -> list[OperationMeta]:
    """A 0600 env file of ``user``'s alone: each variable's value copied from the host's store.

    Values never leave the host: the store is filled there (see ``deploys/host.py``) and a shell
    on the host copies each value into the file. Written when its names change or it is missing.
    """
    names = HostFile(
        path=f"{env}.names",
        content=names_of(refs),
        group=system.root_group,
        mode="0600",
    )
    spec_op = put(names)
    present = exists(env)
    if spec_op is None and present:
        return []  # the names are as they were and the file is there: nothing to write
    # Planned but maybe unchanged (the snapshot did not look at it): written only on a change.
    extra: dict[str, Any] = {"_if": spec_op.did_change} if spec_op is not None and present else {}
    command = env_writer(env, refs, layout, user, group)
    write = server.shell(name=f"Write {env}", commands=[command], **extra)
    return running([spec_op, write])
