"""Timing pyinfra runs and the verify suite: wall time, changes, time per operation."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ("uv", "run", "pyinfra", "lab/inventory.py", "deploys/site.py", "-y")
VERIFY = (
    "uv",
    "run",
    "pytest",
    "verify",
    "--inventory",
    "lab/inventory.py",
    "-q",
    "-p",
    "no:cacheprovider",
)

_START = re.compile(r"^--> Starting operation: (?P<name>.+?)\s*$")
_TOTAL = re.compile(r"^\s*Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)")
_PASSED = re.compile(r"(\d+) passed")


@dataclass(frozen=True)
class Run:
    """A command's wall time, exit code, and each output line with its time since the start."""

    wall: float
    returncode: int
    lines: tuple[tuple[float, str], ...]

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def timed(argv: Sequence[str], timeout: float = 3600, cwd: Path = PROJECT_ROOT) -> Run:
    """Run ``argv`` in the project (or another checkout of it), stamping each output line."""
    started = time.monotonic()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        # Each line stamped when it is printed, not when a buffer fills.
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
            if time.monotonic() - started > timeout:
                proc.kill()
                break
        returncode = proc.wait()
    return Run(wall=time.monotonic() - started, returncode=returncode, lines=tuple(lines))


def operation_count(output: str) -> int:
    """Operations a run planned, from pyinfra's ``Grand total`` row (its hosts column)."""
    for line in output.splitlines():
        match = _TOTAL.match(line)
        if match:
            return int(match.group(1))
    raise ValueError("no 'Grand total' row in the pyinfra output")


def changed_operations(output: str) -> int:
    """Operations that changed something, from pyinfra's ``Grand total`` row ('-' is none)."""
    for line in output.splitlines():
        match = _TOTAL.match(line)
        if match:
            value = match.group(2)
            return 0 if value == "-" else int(value)
    raise ValueError("no 'Grand total' row in the pyinfra output")


def operation_times(lines: Sequence[tuple[float, str]]) -> list[tuple[str, float]]:
    """(operation name, seconds): from each operation's start line to the next line that starts
    an operation or ends the run. Operations run one after another (pyinfra waits for every
    host at each operation), so these add up to the run's operation phase."""
    out: list[tuple[str, float]] = []
    current: tuple[str, float] | None = None
    for stamp, line in lines:
        match = _START.match(line)
        ends = line.startswith("--> Disconnecting") or "Grand total" in line
        if (match or ends) and current is not None:
            out.append((current[0], stamp - current[1]))
            current = None
        if match:
            current = (match.group("name"), stamp)
    return out


#: How an operation's name says which phase of a rebuild it belongs to.
PACKAGE_WORDS = (
    "Install ",
    "Debian package",
    "Check out ",
    "Lock ",
    "Make ",
    "uv ",
    "Switch ",
    "Keep the two",
)
START_WORDS = ("Wait for ", "Restart ", "running and enabled", "Load ", "Reload systemd")


def phase_of(operation: str) -> str:
    """'packages', 'services starting' or 'configure' for one operation name."""
    step = operation.rsplit(" | ", 1)[-1]
    if any(step.startswith(w) or w in step for w in START_WORDS):
        return "services starting"
    if any(step.startswith(w) for w in PACKAGE_WORDS):
        return "packages"
    return "configure"


def deploy_phases(lines: Sequence[tuple[float, str]], wall: float) -> dict[str, float]:
    """A deploy's wall time split into connect/prepare, packages, configure, services starting."""
    phases = {"connect and plan": 0.0, "packages": 0.0, "configure": 0.0, "services starting": 0.0}
    ops = operation_times(lines)
    for name, seconds in ops:
        phases[phase_of(name)] += seconds
    phases["connect and plan"] = max(0.0, wall - sum(s for _, s in ops))
    return phases


def passed_count(output: str) -> int:
    match = _PASSED.search(output)
    return int(match.group(1)) if match else 0


#: pyinfra's stage lines, in the order a run prints them, and the phase each one starts.
STAGES = (
    ("--> Loading config", "config"),
    ("--> Loading inventory", "inventory and group data"),
    ("--> Connecting to hosts", "connect"),
    ("--> Preparing operation", "plan (deploy code, facts)"),
    ("--> Beginning operation run", "operations"),
    ("--> Results", "results table"),
    ("--> Disconnecting", "disconnect and exit"),
)


def run_phases(lines: Sequence[tuple[float, str]], wall: float) -> list[tuple[str, float]]:
    """A pyinfra run's wall time split at its stage lines: (phase, seconds), adding up to
    ``wall``. Before the first stage line: the interpreter's start and pyinfra's imports."""
    marks = [("interpreter and imports", 0.0)]
    for prefix, phase in STAGES:
        stamp = next((t for t, line in lines if line.startswith(prefix)), None)
        if stamp is not None:
            marks.append((phase, stamp))
    ends = [stamp for _, stamp in marks[1:]] + [wall]
    return [(phase, max(0.0, end - start)) for (phase, start), end in zip(marks, ends, strict=True)]


_SENT = re.compile(r"^\s*\[(?P<host>[^\]]+)\]\s+>>> ")


def commands_sent(lines: Sequence[tuple[float, str]]) -> dict[str, int]:
    """Commands a ``-vv`` run sent to each host (facts' and operations'): its round trips."""
    counted: dict[str, int] = {}
    for _, line in lines:
        match = _SENT.match(line)
        if match:
            counted[match.group("host")] = counted.get(match.group("host"), 0) + 1
    return counted
