"""Time ``homelab lab up``: from nothing (no cached root) and from the cached root.

Runs a separate lab in a temporary directory (HOMELAB_LAB_DIR / HOMELAB_LAB_CACHE), so the
operator's cache is never touched. A lab that is up when the benchmark starts is taken down
first (the two would share the bridge) and brought up again at the end.

    sudo python bench/lab_up.py [--skip-from-nothing]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from homelab.lab.rootfs import remove_tree  # noqa: E402

TARGETS = {"lab_up_from_nothing": 180.0, "lab_up_cached_root": 30.0}


def lab(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homelab.lab", *args],
        cwd=PROJECT_ROOT,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def timed_up(env: Mapping[str, str]) -> float:
    started = time.monotonic()
    result = lab("up", env=env)
    took = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"homelab lab up failed:\n{result.stderr}")
    return took


def report(name: str, seconds: float) -> None:
    target = TARGETS.get(name)
    if target is None:
        print(f"{name}: {seconds:.1f} s")
        return
    verdict = "met" if seconds < target else "not met"
    print(f"{name}: {seconds:.1f} s (target < {target:.0f} s): {verdict}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-from-nothing", action="store_true", help="time only the cached-root start"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/lab_up.py needs root (the lab does): sudo python bench/lab_up.py")
        return 1

    status = lab("status", "--json")
    was_up = status.returncode == 0 and json.loads(status.stdout)["up"]
    if was_up:
        print("taking the running lab down for the benchmark (brought up again after)")
    down = lab("down")
    if down.returncode != 0:
        raise SystemExit(f"homelab lab down failed:\n{down.stderr}")

    work = Path(tempfile.mkdtemp(prefix="homelab-lab-bench-", dir="/var/tmp"))
    env = {
        **os.environ,
        "HOMELAB_LAB_DIR": str(work / "lab"),
        "HOMELAB_LAB_CACHE": str(work / "cache"),
    }
    try:
        if not args.skip_from_nothing:
            report("lab_up_from_nothing", timed_up(env))
            lab("destroy", env=env)
        else:
            # Build the cached root once, untimed.
            timed_up(env)
            lab("destroy", env=env)
        report("lab_up_cached_root", timed_up(env))
        lab("down", env=env)
        report("lab_up_warm_restart", timed_up(env))
    finally:
        lab("down", env=env)
        remove_tree(work)
        if was_up:
            restored = lab("up")
            print("the lab is up again" if restored.returncode == 0 else restored.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
