"""Warm-ups, last in a host's deploy: each server's warm models asked one short request when
the server has started since its last warm-up (this deploy's restart, a crash, a boot) or when
what it warms changed (an OpenVINO profile switched: no restart of the server or the gateway).

The host's records and its servers' starts are asked in one fact; a host whose servers are
warm runs nothing (the no-op converge stays a no-op). The script (``scripts/warm_up.py``) runs
with the host's own Python and writes each record that verify and ``homelab status`` read.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

from pyinfra.api.facts import FactBase
from pyinfra.context import host
from pyinfra.operations import server

from deploys.files import put
from homelab import PROJECT_ROOT, warm
from homelab.model import HostFile, Platform
from homelab.model.service import Warmup

SCRIPT = PROJECT_ROOT / "deploys" / "scripts" / "warm_up.py"
#: Where the script lives on a host (its layout's install folder of this name).
INSTALL = "warm-up"
#: Seconds the script waits for a server's health, and for each model's answer (a big model
#: on the Mini's GPU compiles for minutes at its first request).
WAIT_S = 300
ANSWER_S = 900


def script_path(platform: Platform, host_name: str) -> str:
    return f"{platform.host(host_name).layout.install_dir(INSTALL)}/{SCRIPT.name}"


def plan(platform: Platform, warmup: Warmup) -> dict[str, Any]:
    daemon = warmup.daemon
    init = platform.host(daemon.host).os.init
    unit = init.unit_id(daemon.layout, daemon.name)
    return {
        "url": daemon.health_url.removesuffix(daemon.health),
        "health": daemon.health_url,
        "models": [list(m) for m in warmup.models],
        "profile": warmup.profile,
        "record": warmup.record,
        "instance": init.instance_command(unit),
        "wait_s": WAIT_S,
        "timeout_s": ANSWER_S,
    }


class Warmed(FactBase[dict[str, warm.Warmed]]):
    """Per daemon: its running start and its last warm-up's record (:mod:`homelab.warm`)."""

    default = dict

    def command(self, script: str) -> str:
        return script

    def process(self, output: list[str]) -> dict[str, warm.Warmed]:
        return warm.read(output)


def warm_up(platform: Platform, host_name: str, started: dict[str, Callable[[], bool]]) -> None:
    """Ask each warm-up whose server started (``started``: by daemon, whether this deploy
    (re)started it) or whose record does not stand."""
    warmups = platform.warmups(host_name)
    if not warmups:
        return
    found = host.get_fact(Warmed, script=warm.command(platform, warmups)) or {}
    script = script_path(platform, host_name)
    put(HostFile(path=script, content=SCRIPT.read_text(), mode="0755"))
    python = platform.host(host_name).toolchain.python
    for w in warmups:
        why = warm.why_warm(w, found.get(w.daemon.name, warm.Warmed("", None)))
        restarted = started.get(w.daemon.name, _never)
        handles = ", ".join(handle for handle, _ in w.models)
        server.shell(
            name=f"Warm up {handles} on {w.daemon.name} ({w.profile})"
            + (f": {why}" if why else ", if it restarted"),
            commands=[f"{python} {script} {shlex.quote(json.dumps(plan(platform, w)))}"],
            _if=_either(why is not None, restarted),
        )


def _never() -> bool:
    return False


def _either(now: bool, later: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: now or later()
