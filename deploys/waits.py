"""Waiting, once at the end of a host's deploy, for the daemons it started to answer."""

from __future__ import annotations

import shlex
from collections.abc import Callable

from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.operations import server

from homelab.model import Daemon

Changed = Callable[[], bool]


#: Seconds a (re)started daemon has to answer its health endpoint (Open WebUI takes the most).
HEALTH_WAIT = 300


def health_wait(daemon: Daemon) -> str:
    """Shell: wait until the daemon answers its health endpoint (fails after HEALTH_WAIT)."""
    return (
        f"curl -fsS -o /dev/null --max-time 5 --retry {HEALTH_WAIT // 2} --retry-delay 2 "
        f"--retry-all-errors {shlex.quote(daemon.health_url)}"
    )


#: Per host: the daemons its deploy may start, restart or reload, each with whether it did.
_STARTED: dict[str, list[tuple[Daemon, Changed]]] = {}


def to_wait_for(daemon: Daemon, condition: Changed) -> None:
    """Remember a daemon this deploy may (re)start; :func:`wait_started` waits for it."""
    _STARTED.setdefault(host.name, []).append((daemon, condition))


def wait_started() -> OperationMeta | None:
    """At the end of a host's deploy, wait until every daemon it (re)started answers.

    One operation at one call site for both hosts: pyinfra runs one operation after another,
    each on every host at once, so a wait inside each service's deploy held the Studio's new
    server behind the Mini's OptiLLM (and every start behind the one before). Now each start
    goes on while the next service deploys, and both hosts wait here together. A daemon that
    does not answer fails its host's deploy here, before anything is pruned.
    """
    pending = _STARTED.pop(host.name, [])
    if not pending:
        return None
    return server.shell(
        name="Wait for the daemons it started to answer",
        commands=[" && ".join(health_wait(d) for d, _ in pending)],
        _if=lambda: any(changed() for _, changed in pending),
    )
