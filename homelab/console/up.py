"""``homelab up``: the main job in one command.

Brings the lab up when the inventory is the lab's (and it is not up), converges every host
(``pyinfra INVENTORY deploys/site.py -y``), runs the verify suite (``pytest verify
--inventory INVENTORY``), and ends with where to go: the URLs of Open WebUI and the gateway,
and where the gateway key is kept (never the key itself). Against the lab it holds the lab lock
from the deploy to the end of verify, so no test's fault lands in between.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from homelab import PROJECT_ROOT
from homelab.console.connect import settings
from homelab.lab.config import LAB_LOCK
from homelab.load import load_platform
from homelab.model import Platform
from homelab.services.litellm import gateway, gateway_host
from homelab.services.open_webui import SERVICE as OPEN_WEBUI

LAB_INVENTORY = PROJECT_ROOT / "lab" / "inventory.py"
SITE = "deploys/site.py"

Say = Callable[[str], None]


class StepFailed(Exception):
    """A step of ``up`` that failed; the message names it and the exit code."""

    def __init__(self, step: str, code: int) -> None:
        super().__init__(f"{step} failed (exit {code}); see its output above")
        self.code = code


def is_lab(inventory: Path) -> bool:
    return Path(inventory).resolve() == LAB_INVENTORY.resolve()


def steps(inventory: Path) -> list[tuple[str, list[str]]]:
    """(what, argv) of each step, in order; run from the project's root."""
    inv = str(Path(inventory).resolve())
    out: list[tuple[str, list[str]]] = []
    if is_lab(inventory):
        out.append(("bringing the lab up", [sys.executable, "-m", "homelab.lab", "up"]))
    out.append(
        ("converging every host", [sys.executable, "-m", "pyinfra", inv, SITE, "-y"]),
    )
    out.append(
        ("verifying every host", [sys.executable, "-m", "pytest", "verify", "--inventory", inv]),
    )
    return out


@contextmanager
def lab_lock(say: Say) -> Iterator[None]:
    with LAB_LOCK.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for the lab lock {LAB_LOCK} (another run holds it)")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def where(platform: Platform, inventory: Path) -> list[str]:
    """The URLs to open and where the gateway key is; the key's value is never read here."""
    home = gateway_host(platform)
    key = platform.host(home).layout.secret_file(platform.gateway.proxy_key.env)
    if is_lab(inventory):
        read = f"uv run homelab lab ssh {home} cat {key}"
    else:
        s = settings(inventory)[home]
        who = f"{s.user}@" if s.user else ""
        port = f" -p {s.port}" if s.port else ""
        read = f"ssh{port} {who}{s.hostname} sudo cat {key}"
    lines = [
        f"Open WebUI:  http://{platform.addresses[host]}:{ow.listener.port}/"
        for host, ow in OPEN_WEBUI.placed(platform)
    ]
    gw = f"http://{platform.addresses[home]}:{gateway(platform).listener.port}/v1"
    return [
        *lines,
        f"gateway:     {gw} (OpenAI-compatible)",
        f"gateway key: in {key} on {home}; to read it: {read}",
    ]


def up(inventory: Path, say: Say) -> list[str]:
    """Run every step; the closing lines. Raises StepFailed at the first failing step."""
    platform = load_platform(inventory)  # invalid data stops here, before anything runs
    todo = steps(inventory)
    lock = lab_lock(say) if is_lab(inventory) else nullcontext()
    first = todo.pop(0) if is_lab(inventory) else None
    if first:
        _step(*first, say=say)
    with lock:
        for what, argv in todo:
            _step(what, argv, say=say)
    return where(platform, inventory)


def _shown(arg: str) -> str:
    if arg == sys.executable:
        return "python"
    path = Path(arg)
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else arg


def _step(what: str, argv: list[str], say: Say) -> None:
    say(f"{what}: {' '.join(_shown(a) for a in argv)}")
    code = subprocess.run(argv, cwd=PROJECT_ROOT, check=False).returncode
    if code != 0:
        raise StepFailed(what, code)
