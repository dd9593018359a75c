"""The operator's console on the lab: status, diff, logs, backup and restore, as an operator runs
them (``homelab ... --inventory lab/inventory.py``, in a child process).

The lab is converged first. Drift is injected (a line appended to a guarded live file, a unit
of the platform's naming the data does not name, a unit stopped) and status and diff must name
it; the lab is put back after (the stray unit removed, a redeploy).
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.console.status import plan
from homelab.load import load_platform
from homelab.model import Platform
from homelab.secrets import STORE_SUFFIX
from homelab.services import Daemon, daemons
from tests.lab.conftest import LAB_INVENTORY, deploy, homelab, ssh

pytestmark = pytest.mark.lab

INJECTED = "# a line the model does not render"


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> Platform:
    deploy()
    return load_platform(LAB_INVENTORY)


def drift_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("drift:")]


def test_status_is_zero_on_the_converged_lab(converged: Platform) -> None:
    done = homelab("status")
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    for role in ("mini", "studio"):
        assert f"{role} ({converged.addresses[role]})" in done.stdout
    for d in daemons(converged, "mini") + daemons(converged, "studio"):
        row = next(line for line in done.stdout.splitlines() if line.split()[:1] == [d.name])
        assert row.split()[1] == ("running" if d.enabled else "disabled"), row
        if d.enabled:
            assert row.split()[2] == "ok" and f"{d.listener.bind}:{d.listener.port}" in row, row


def _stopped(platform: Platform) -> Daemon:
    """A loopback-only service of the Mini that nothing here waits on: the one to stop."""
    return next(
        d
        for d in daemons(platform, "mini")
        if d.enabled and not d.listener.lan and d.name != platform.mini.litellm.kind
    )


@pytest.fixture
def drifted(converged: Platform) -> Iterator[dict[str, str]]:
    """Three kinds of drift on the Mini; undone after, and the lab converged again."""
    litellm = next(d for d in daemons(converged, "mini") if d.name == converged.mini.litellm.kind)
    assert litellm.config
    p = plan(converged, "mini")
    stray = f"{p.unit_dir}/homelab-stray-test.service"
    stopped = _stopped(converged)
    before = drift_lines(homelab("status").stdout)
    unit = f"# {Path(stray).name}{p.marker}\n[Service]\nExecStart=/bin/true\n"
    try:
        for command in (
            f"printf '%s\\n' '{INJECTED}' >> {litellm.config}",
            f"printf '%s' '{unit}' > {stray}",
            f"systemctl stop {stopped.unit}",
        ):
            done = ssh("mini", command)
            assert done.returncode == 0, done.stderr
        yield {"changed": litellm.config, "stray": stray, "stopped": stopped.name}
    finally:
        ssh("mini", f"rm -f {stray} && systemctl daemon-reload")
        deploy()
        after = homelab("status")
        assert drift_lines(after.stdout) == before, after.stdout


def test_status_and_diff_name_injected_drift(drifted: dict[str, str]) -> None:
    done = homelab("status")
    print(done.stdout)
    assert done.returncode == 1
    assert f"down: {drifted['stopped']} is not running (inactive/dead)" in done.stdout
    assert f"drift: {drifted['stray']}: the platform's kind of unit, not in the data" in (
        done.stdout
    )
    assert f"drift: {drifted['changed']}: differs from the model" in done.stdout

    shown = homelab("diff", "mini")
    print(shown.stdout, shown.stderr)
    assert shown.returncode == 1
    assert f"--- mini:{drifted['changed']} (live)" in shown.stdout
    assert f"+++ {drifted['changed']} (rendered from the model)" in shown.stdout
    assert f"\n-{INJECTED}\n" in shown.stdout
    assert "file(s) differ from the model" in shown.stderr


def test_diff_is_clean_on_the_studio(converged: Platform) -> None:
    done = homelab("diff", "studio")
    assert done.returncode == 0, done.stdout
    assert done.stdout == "" and "every file is as the model renders it" in done.stderr


def test_logs_prints_the_last_lines_of_a_unit(converged: Platform) -> None:
    mlx = next(d for d in daemons(converged, "studio") if d.enabled)
    done = homelab("logs", mlx.name, "-n", "3")
    print(done.stdout)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert 1 <= len(lines) <= 3
    assert all(" studio " in line for line in lines), lines


def test_logs_follow_prints_what_comes(converged: Platform) -> None:
    mlx = next(d for d in daemons(converged, "studio") if d.enabled)
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homelab.cli",
            "logs",
            mlx.name,
            "-n",
            "0",
            "-f",
            "--inventory",
            str(LAB_INVENTORY),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    try:
        time.sleep(5)  # connected and following
        marker = f"{mlx.health}?follow={time.time_ns()}"
        url = f"http://127.0.0.1:{mlx.listener.port}{marker}"
        assert ssh("studio", f"curl -sS -o /dev/null '{url}'").returncode == 0
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(marker in line for line in seen):
            ready, _, _ = select.select([follower.stdout], [], [], 1)
            if ready:
                seen.append(follower.stdout.readline())  # the request's log line, as it comes
        assert any(marker in line for line in seen), seen
    finally:
        follower.terminate()
        follower.wait(timeout=30)


def test_backup_and_restore_say_each_step(converged: Platform, tmp_path: Path) -> None:
    made = homelab("backup", "mini", "--local", str(tmp_path), timeout=900)
    print(made.stdout, made.stderr)
    assert made.returncode == 0, made.stderr
    steps = made.stderr.splitlines()
    assert steps[0].startswith("backup: connecting to mini (")
    assert any(s.startswith("backup: copying ") for s in steps)
    assert any(s.startswith("backup: fetching ") for s in steps)
    (store,) = (tmp_path / "mini").glob(f"*{STORE_SUFFIX}")
    (copy,) = (c for c in (tmp_path / "mini").glob("*.tar.gz") if c != store)
    assert copy.stat().st_mode & 0o777 == 0o600
    assert store.stat().st_mode & 0o777 == 0o600, "the secret store's copy is 0600 too"

    restored = homelab("restore", "mini", "--local", str(tmp_path), timeout=900)
    print(restored.stdout, restored.stderr)
    assert restored.returncode == 0, restored.stderr
    assert copy.name.removesuffix(".tar.gz") in restored.stdout
    said = [s.split(":", 1)[1].strip().split()[0] for s in restored.stderr.splitlines()]
    assert said == ["connecting", "sending", "stopping", "putting", "keeping", "starting"], said
