"""Activating a daemon under launchd (macOS): plists loaded with bootstrap, read again after a
change with bootout + bootstrap, disabled ones unloaded."""

from __future__ import annotations

from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.launchd import LaunchdStatus
from pyinfra.operations import launchd, server
from pyinfra.operations.util import any_changed

from deploys.waits import Changed, to_wait_for
from homelab.model import Daemon

#: plutil's own check of a candidate plist.
UNIT_CHECK = "plutil -lint {path}"


def activate(
    daemon: Daemon,
    unit: Changed,
    changes: list[OperationMeta],
    socket: Changed,
    reloads: list[OperationMeta],
) -> None:
    changes = [*changes, *reloads]  # launchd has no reload: a change restarts the daemon
    # pyinfra's launchd.service only starts and stops: loading a plist is launchctl's
    # bootstrap, and a changed plist is read again only after bootout + bootstrap.
    target = f"system/{daemon.unit}"
    loaded = daemon.unit in host.get_fact(LaunchdStatus)
    if not daemon.enabled:
        if loaded:  # switched off in the data: stopped and unloaded, its plist stays
            server.shell(
                name=f"Unload {daemon.unit} (disabled in the data)",
                commands=[f"launchctl bootout {target}"],
            )
        return
    server.shell(
        name=f"Load {daemon.unit} again (its plist changed)",
        commands=[
            f"launchctl bootout {target} 2>/dev/null || true",
            # Disabled by the way back to a legacy job (homelab way-back): enabled again.
            f"launchctl enable {target}",
            f"launchctl bootstrap system {daemon.unit_path}",
        ],
        _if=unit if loaded else _always,
    )
    server.shell(
        name=f"Restart {daemon.unit} (its files changed)",
        commands=[f"launchctl kickstart -k {target}"],
        _if=lambda: any_changed(*changes)() and not unit(),
    )
    start = launchd.service(name=f"{daemon.unit} running", service=daemon.unit, running=True)
    to_wait_for(daemon, lambda: unit() or any_changed(*changes)() or start.did_change())


def _always() -> bool:
    return True
