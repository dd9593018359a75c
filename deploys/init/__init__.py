"""The deploy side of each init system: how a daemon is activated, how a candidate unit file
is checked. Picked by the host's init system (``daemon.system.init``); nothing else asks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyinfra.api.operation import OperationMeta

from deploys.init import launchd, systemd
from deploys.waits import Changed
from homelab.model import Daemon

Activate = Callable[[Daemon, Changed, list[OperationMeta], Changed, list[OperationMeta]], None]


@dataclass(frozen=True)
class Activation:
    """One init system's activation and its unit check (``{path}``: the candidate's place)."""

    activate: Activate
    unit_check: str


ACTIVATIONS: dict[str, Activation] = {
    "systemd": Activation(systemd.activate, systemd.UNIT_CHECK),
    "launchd": Activation(launchd.activate, launchd.UNIT_CHECK),
}


def activation(daemon: Daemon) -> Activation:
    return ACTIVATIONS[daemon.system.init.name]


def _never() -> bool:
    return False


def activate(
    daemon: Daemon,
    unit: Changed,
    changes: list[OperationMeta],
    socket: Changed | None = None,
    reloads: list[OperationMeta] | None = None,
) -> None:
    """Start the daemon (or keep it stopped when disabled); restart only on a change.

    ``unit`` says whether the unit file changed, ``socket`` whether its socket unit did;
    ``changes`` are the operations whose change calls for a restart, ``reloads`` those a
    reload takes in (a reloadable daemon's config). A socket-activated daemon restarts behind
    its socket: requests wait for the new process instead of failing.
    """
    activation(daemon).activate(daemon, unit, changes, socket or _never, reloads or [])
