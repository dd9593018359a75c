"""One lab host as a process: boot it under systemd-nspawn, stop it, wait for its systemd."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from homelab.lab import cgroups, procs
from homelab.lab.config import (
    PROCESS_MARK,
    UV_CACHE_IN_HOST,
    WHEEL_CACHE_IN_HOST,
    WHEELS,
    LabConfig,
)
from homelab.lab.errors import LabError
from homelab.lab.ssh import ssh_run
from homelab.lab.state import HostRun
from homelab.lab.system import SEARCH_PATH, last_line


def nspawn_argv(config: LabConfig, name: str) -> list[str]:
    root = config.host_root(name)
    return [
        "systemd-nspawn",
        "--boot",
        f"--directory={root}",
        f"--machine={name}",
        # The machine has no systemd of its own: no machined to register with, no unit to move.
        "--register=no",
        "--keep-unit",
        f"--network-bridge={config.bridge}",
        "--resolv-conf=replace-host",
        "--link-journal=no",
        "--console=read-only",
        f"--bind={config.uv_cache}:{UV_CACHE_IN_HOST}",
        f"--bind={config.wheel_cache}:{WHEEL_CACHE_IN_HOST}",
        *([f"--bind-ro={WHEELS}:{WHEELS}"] if Path(WHEELS).is_dir() else []),
        # Marks the container's init, so a lab whose nspawn was killed can still be found.
        f"--setenv={PROCESS_MARK}={root}",
    ]


#: nspawn keeps a directory per machine here and cannot remove it when it exits.
NSPAWN_PROPAGATE = Path("/run/systemd/nspawn/propagate")


def remove_runtime_dirs(names: Iterable[str]) -> None:
    for name in names:
        with contextlib.suppress(OSError):
            (NSPAWN_PROPAGATE / name).rmdir()


def log_tail(config: LabConfig, name: str, lines: int = 3) -> str:
    try:
        text = config.host_log(name).read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " / ".join(kept)


def boot(config: LabConfig, name: str, timeout: float = 20) -> HostRun:
    """Start ``name`` detached and return its processes once the container's init exists."""
    address = config.address(name)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    with config.host_log(name).open("w") as log:
        try:
            proc = subprocess.Popen(
                nspawn_argv(config, name),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PATH": SEARCH_PATH},
                preexec_fn=lambda: cgroups.enter(name),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise LabError(
                f"could not start {name} in its own cgroup ({exc})",
                "the lab needs a writable cgroup hierarchy (/sys/fs/cgroup) on this machine",
            ) from exc
    nspawn_start = procs.start_time(proc.pid) or 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(
                f"{name} did not boot: systemd-nspawn exited {proc.returncode} "
                f"({last_line(config.host_log(name).read_text(errors='replace'))})",
                f"see {config.host_log(name)}",
            )
        for child in procs.children(proc.pid):
            if procs.is_namespace_init(child):
                return HostRun(
                    name=name,
                    nspawn_pid=proc.pid,
                    nspawn_start=nspawn_start,
                    init_pid=child,
                    init_start=procs.start_time(child) or 0,
                    address=address,
                )
        time.sleep(0.05)
    procs.send(proc.pid, signal.SIGKILL)
    raise LabError(
        f"{name} did not boot: no container init after {timeout:.0f} s ({log_tail(config, name)})",
        f"see {config.host_log(name)}",
    )


def alive(run: HostRun) -> bool:
    return procs.is_alive(run.nspawn_pid, run.nspawn_start) and procs.is_alive(
        run.init_pid, run.init_start
    )


def stop(nspawn_pids: Iterable[int], orphan_inits: Iterable[int], timeout: float = 20) -> int:
    """Halt hosts cleanly, then kill what is left; return how many processes were stopped.

    SIGTERM makes nspawn halt its container. An init whose nspawn is gone gets systemd's
    halt signal itself. Killing an init ends every process of its PID namespace.
    """
    nspawns, inits = list(nspawn_pids), list(orphan_inits)
    for pid in nspawns:
        procs.send(pid, signal.SIGTERM)
    for pid in inits:
        procs.send(pid, procs.HALT_SIGNAL)
    left = procs.wait_gone([*nspawns, *inits], timeout)
    for pid in left:
        # The nspawn's container init is its child: kill it too, or it runs on alone.
        for child in procs.children(pid):
            procs.send(child, signal.SIGKILL)
        procs.send(pid, signal.SIGKILL)
    still = procs.wait_gone(left, 10)
    if still:
        raise LabError(
            f"lab processes {', '.join(map(str, still))} did not end even on SIGKILL",
            "they are stuck in the kernel (ps -o pid,stat,wchan -p PID); reboot the machine",
        )
    return len(nspawns) + len(inits)


@dataclass(frozen=True)
class SystemState:
    name: str
    state: str
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"


def system_state(config: LabConfig, name: str, timeout: float = 15) -> SystemState:
    """What ``systemctl is-system-running`` answers over SSH, or why it could not be asked."""
    result = ssh_run(config, name, "systemctl is-system-running", timeout=timeout)
    answer = result.stdout.strip()
    if result.returncode == 255 or not answer:
        why = last_line(result.stderr) or "no answer"
        return SystemState(name, "unreachable", f"ssh failed: {why}")
    return SystemState(name, answer)


def why_degraded(config: LabConfig, name: str) -> str:
    """The failed units and the last log line of each, in one line."""
    script = (
        "for u in $(systemctl list-units --failed --plain --no-legend | awk '{print $1}'); do "
        'echo "$u: $(journalctl -u "$u" -n 1 -o cat --no-pager | tail -n 1)"; done'
    )
    result = ssh_run(config, name, script, timeout=20)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return "failed units: " + "; ".join(lines) if lines else "no failed unit named"


def wait_running(
    config: LabConfig, runs: dict[str, HostRun], timeout: float
) -> dict[str, SystemState]:
    """Wait until each host's systemd has finished booting; its final state, and why if not."""
    deadline = time.monotonic() + timeout
    states: dict[str, SystemState] = {}
    for name, run in runs.items():
        state = SystemState(name, "unreachable", "not asked yet")
        while True:
            if not alive(run):
                state = SystemState(name, "stopped", f"its nspawn ended ({log_tail(config, name)})")
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # --wait returns once boot is over: running, degraded, or stopping.
            result = ssh_run(
                config, name, "systemctl is-system-running --wait", timeout=max(remaining, 1)
            )
            answer = result.stdout.strip()
            if result.returncode != 255 and answer:
                state = SystemState(name, answer)
                if answer not in ("initializing", "starting"):
                    break
            else:
                state = SystemState(name, "unreachable", f"ssh: {last_line(result.stderr)}")
                time.sleep(0.3)
        if state.state == "degraded":
            state = SystemState(name, "degraded", why_degraded(config, name))
        states[name] = state
    return states
