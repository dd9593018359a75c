"""The deploy of the gateway's host planned as a host that already runs the gateway answers
(on the venv and checker this checkout wants, its unit active): planned once, on pyinfra's
fake connector, for the tests of what a restart and a changed config do there."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from deploys.litellm import CHECKER, checker_path
from deploys.state import sha1
from homelab.load import load_platform
from homelab.locks import lock_for, locked_venv_target
from homelab.services import Daemon, daemon_named
from homelab.services.litellm import gateway_host
from tests.fast.fakeplan import REAL, planned_commands

#: The deploy's snapshot of a host (one command: paths, accounts, units).
SNAPSHOT = "systemctl show -p Id -p ActiveState -p UnitFileState"


def gateway() -> Daemon:
    platform = load_platform(REAL)
    return daemon_named(platform, gateway_host(platform), "litellm")


def snapshot(d: Daemon) -> list[str]:
    """The snapshot's lines of a host running ``d`` on its current venv and checker."""
    target = locked_venv_target(lock_for(d), d.install_dir)
    return [
        f"P\t{d.venv}\tl\t777\troot\troot\t{target}",
        f"P\t{checker_path(d)}\tf\t644\troot\troot\t{sha1(CHECKER.read_text())}",
        f"S\t{d.unit}\tactive\tenabled",
    ]


@functools.cache
def plan() -> tuple[str, ...]:
    """The commands sent to the gateway's host."""
    d = gateway()
    folder = Path(tempfile.mkdtemp(prefix="running-gateway-"))
    return tuple(planned_commands(folder, d.host, {d.host: {SNAPSHOT: snapshot(d)}}))
