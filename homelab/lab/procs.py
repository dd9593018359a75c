"""The lab's processes, read from /proc: alive or not, and found again without a state file."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from homelab.lab.config import PROCESS_MARK

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (the command name may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def reap(pid: int) -> None:
    """Collect ``pid`` if it is a dead child of this process, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot): tells a PID from a later reuse of it."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def is_alive(pid: int, started: int | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, started at ``started``."""
    reap(pid)
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in (PROC / str(pid) / "task").iterdir():
            with contextlib.suppress(OSError):
                kids.extend(int(x) for x in (task / "children").read_text().split())
    return kids


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def environ(pid: int) -> dict[str, str]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.decode(errors="replace").partition("=")
        if sep:
            env[key] = value
    return env


def is_namespace_init(pid: int) -> bool:
    """True when ``pid`` is PID 1 of a PID namespace below this one (a container's init)."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            ids = line.split()[1:]
            return len(ids) > 1 and ids[-1] == "1"
    return False


def all_pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def _option(argv: list[str], name: str) -> str | None:
    """The value of ``--name=VALUE`` or ``--name VALUE`` in ``argv``."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
    return None


@dataclass(frozen=True)
class NspawnProcess:
    pid: int
    directory: str
    bridge: str | None


def nspawn_processes() -> list[NspawnProcess]:
    """Every running systemd-nspawn on the machine, with its root directory and bridge."""
    found: list[NspawnProcess] = []
    for pid in all_pids():
        argv = cmdline(pid)
        if not argv or Path(argv[0]).name != "systemd-nspawn" or not is_alive(pid):
            continue
        directory = _option(argv, "--directory") or _option(argv, "-D") or ""
        found.append(NspawnProcess(pid, directory, _option(argv, "--network-bridge")))
    return found


def lab_nspawns(hosts_dir: Path) -> list[NspawnProcess]:
    """The nspawn processes that run a root under ``hosts_dir``: this lab's."""
    prefix = f"{hosts_dir}/"
    return [p for p in nspawn_processes() if p.directory.startswith(prefix)]


def lab_inits(hosts_dir: Path) -> dict[int, str]:
    """Container inits started by this lab (PID -> host root), found by the mark in their env.

    They outlive a killed nspawn, keeping the host's network namespace and its veth alive.
    """
    prefix = f"{hosts_dir}/"
    found: dict[int, str] = {}
    for pid in all_pids():
        if not is_namespace_init(pid):
            continue
        root = environ(pid).get(PROCESS_MARK, "")
        if root.startswith(prefix) and is_alive(pid):
            found[pid] = root
    return found


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` seconds for ``pids`` to end; return those still alive."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [pid for pid in pending if is_alive(pid)]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return pending


def send(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


#: What systemd as a container's PID 1 takes as "halt now" (nspawn sends it on SIGTERM too).
HALT_SIGNAL = signal.SIGRTMIN + 3
