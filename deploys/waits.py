"""Waiting, once at the end of a host's deploy, for the daemons it started to answer, and for
those still starting by themselves (a host that has just booted): verify runs on a host whose
every enabled daemon answers."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from functools import partial

from pyinfra.api.facts import FactBase
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


#: Seconds a daemon has to answer the question before it counts as still starting: a busy
#: server (a model generating on a loaded host) is slow, not starting; one that is starting
#: refuses the connection at once.
ASK_SECONDS = 10


class Unanswered(FactBase[list[str]]):
    """The daemons (of those given) that do not answer their health endpoint now: one command
    for all, asked side by side, so the question takes ASK_SECONDS at the most."""

    default = list

    def command(self, daemons: tuple[tuple[str, str], ...]) -> str:
        asks = " ".join(
            f"(curl -fsS -o /dev/null --max-time {ASK_SECONDS} {shlex.quote(url)} "
            f"|| echo {shlex.quote(name)}) &"
            for name, url in daemons
        )
        return f"{asks} wait"

    def process(self, output: list[str]) -> list[str]:
        return [line.strip() for line in output if line.strip()]


def any_changed(conditions: tuple[Changed, ...]) -> bool:
    return any(changed() for changed in conditions)


def wait_started(enabled: tuple[Daemon, ...] = ()) -> dict[str, Changed]:
    """At the end of a host's deploy, wait until every daemon it (re)started answers, and
    every other ``enabled`` daemon that does not answer yet (starting after a boot).

    One operation at one call site for both hosts: pyinfra runs one operation after another,
    each on every host at once, so a wait inside each service's deploy held the Studio's new
    server behind the Mini's OptiLLM (and every start behind the one before). Now each start
    goes on while the next service deploys, and both hosts wait here together. A daemon that
    does not answer fails its host's deploy here, before anything is pruned. On a host whose
    daemons all answer and where nothing started, it asks one fact and runs nothing.

    Returns, by daemon name, whether this deploy (re)started it (known when it runs), for
    what follows a start (the warm-ups).
    """
    pending = _STARTED.pop(host.name, [])
    # Every enabled daemon is asked, those the deploy may start too: on a host that has just
    # booted the deploy changes nothing, yet its daemons are still starting.
    asked = tuple((d.name, d.health_url) for d in enabled)
    quiet: list[str] = host.get_fact(Unanswered, daemons=asked) if asked else []
    waits = {d.name: d for d, _ in pending} | {d.name: d for d in enabled if d.name in quiet}
    conditions: dict[str, list[Changed]] = {}
    for d, changed in pending:
        conditions.setdefault(d.name, []).append(changed)
    started: dict[str, Changed] = {
        name: partial(any_changed, tuple(each)) for name, each in conditions.items()
    }
    if not waits:
        return started
    server.shell(
        name=f"Wait for {', '.join(waits)} to answer",
        commands=[" && ".join(health_wait(d) for d in waits.values())],
        _if=lambda: bool(quiet) or any(changed() for _, changed in pending),
    )
    return started
