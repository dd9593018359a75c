"""Boot to green: the lab taken down (every host stopped, as a machine is switched off), then
the README's main job, ``homelab up``'s steps in order (the lab up, the deploy, verify), timed
from the first step to the end of a green verify. Verify must pass at its first run: a host that
has just booted is not a failure (the deploy waits for what is still starting).

The steps are ``homelab up``'s own (:func:`homelab.console.up.steps`), run here without its lab
lock, which the lab tests and ``bench/perf.py`` already hold.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from bench.lab import lab_command
from homelab import PROJECT_ROOT
from homelab.console.up import LAB_INVENTORY, steps


@dataclass(frozen=True)
class Step:
    what: str
    seconds: float
    code: int
    tail: str


@dataclass(frozen=True)
class Boot:
    steps: tuple[Step, ...]

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def green(self) -> bool:
        return all(s.code == 0 for s in self.steps)

    def summary(self) -> str:
        parts = ", ".join(f"{s.what} {s.seconds:.1f} s" for s in self.steps)
        return f"{self.seconds:.1f} s ({parts})"


def boot_to_green() -> Boot:
    """Lab down, then ``homelab up``'s steps, each timed; stops at the first that fails."""
    lab_command("down")
    done: list[Step] = []
    for what, argv in steps(LAB_INVENTORY):
        start = time.monotonic()
        result = subprocess.run(
            argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800, check=False
        )
        tail = (result.stdout + result.stderr)[-3000:]
        done.append(Step(what, time.monotonic() - start, result.returncode, tail))
        if result.returncode != 0:
            break
    return Boot(tuple(done))
