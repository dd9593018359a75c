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
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.backup import webui_host
from homelab.console.status import plan
from homelab.load import load_platform
from homelab.model import Platform
from homelab.secrets import STORE_SUFFIX
from homelab.services import Daemon, daemon_named, daemons, mlx
from homelab.services.litellm import gateway_host
from tests.lab.conftest import LAB_INVENTORY, deploy, homelab, ssh

pytestmark = pytest.mark.lab

INJECTED = "# a line the model does not render"
PLATFORM = load_platform(LAB_INVENTORY)
#: Where drift is injected: the gateway's host (its router config is a guarded live file).
DRIFTED = gateway_host(PLATFORM)


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> Platform:
    deploy()
    return load_platform(LAB_INVENTORY)


def drift_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("drift:")]


def by_host(platform: Platform, output: str) -> dict[str, list[str]]:
    """Status's lines of each host: from its title (``host (address)``) to the next one."""
    titles = {f"{host} ({platform.addresses[host]})": host for host in platform.hosts}
    out: dict[str, list[str]] = {}
    lines: list[str] | None = None
    for line in output.splitlines():
        if line in titles:
            lines = out.setdefault(titles[line], [])
        elif lines is not None:
            lines.append(line)
    return out


def test_status_is_zero_on_the_converged_lab(converged: Platform) -> None:
    done = homelab("status")
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    hosts = by_host(converged, done.stdout)
    assert set(hosts) == set(converged.hosts), f"status names {sorted(hosts)}"
    for host in converged.hosts:
        for d in daemons(converged, host):
            # A replica's server has the same name on each host: its row is in its host's table.
            row = next(line for line in hosts[host] if line.split()[:1] == [d.name])
            assert row.split()[1] == ("running" if d.enabled else "disabled"), (host, row)
            if d.enabled:
                bind = f"{d.listener.bind}:{d.listener.port}"
                assert row.split()[2] == "ok" and bind in row, (host, row)


def _stopped(platform: Platform) -> Daemon:
    """A loopback-only service of the drifted host that nothing here waits on (not the
    gateway): the one to stop."""
    return next(
        d
        for d in daemons(platform, DRIFTED)
        if d.enabled and not d.listener.lan and d.name != "litellm"
    )


@pytest.fixture
def drifted(converged: Platform) -> Iterator[dict[str, str]]:
    """Three kinds of drift on the gateway's host; undone after, and the lab converged again."""
    litellm = daemon_named(converged, DRIFTED, "litellm")
    assert litellm.config
    p = plan(converged, DRIFTED)
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
            done = ssh(DRIFTED, command)
            assert done.returncode == 0, done.stderr
        yield {"changed": litellm.config, "stray": stray, "stopped": stopped.name}
    finally:
        ssh(DRIFTED, f"rm -f {stray} && systemctl daemon-reload")
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

    shown = homelab("diff", DRIFTED)
    print(shown.stdout, shown.stderr)
    assert shown.returncode == 1
    assert f"--- {DRIFTED}:{drifted['changed']} (live)" in shown.stdout
    assert f"+++ {drifted['changed']} (rendered from the model)" in shown.stdout
    assert f"\n-{INJECTED}\n" in shown.stdout
    assert "file(s) differ from the model" in shown.stderr


@pytest.mark.parametrize("host", [h for h in PLATFORM.hosts if h != DRIFTED])
def test_diff_is_clean_on_every_other_host(converged: Platform, host: str) -> None:
    done = homelab("diff", host)
    assert done.returncode == 0, done.stdout
    assert done.stdout == "" and "every file is as the model renders it" in done.stderr


def logged(platform: Platform) -> Daemon:
    """An MLX server (it logs every request) of a name no other host's daemon has: the one
    ``homelab logs NAME`` reads, on its own host."""
    names = Counter(d.name for d in platform.enabled_daemons())
    servers = platform.module(mlx.SERVICE_NAME)
    return next(
        d
        for host, _ in servers.placed(platform)
        for d in servers.daemons(platform, host)
        if d.enabled and names[d.name] == 1
    )


def test_logs_prints_the_last_lines_of_a_unit(converged: Platform) -> None:
    mlx = logged(converged)
    done = homelab("logs", mlx.name, "-n", "3")
    print(done.stdout)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert 1 <= len(lines) <= 3
    assert all(f" {mlx.host} " in line for line in lines), lines


def test_logs_follow_prints_what_comes(converged: Platform) -> None:
    mlx = logged(converged)
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
        assert ssh(mlx.host, f"curl -sS -o /dev/null '{url}'").returncode == 0
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
    host = webui_host(converged)  # where Open WebUI's data is
    made = homelab("backup", host, "--local", str(tmp_path), timeout=900)
    print(made.stdout, made.stderr)
    assert made.returncode == 0, made.stderr
    steps = made.stderr.splitlines()
    assert steps[0].startswith(f"backup: connecting to {host} (")
    assert any(s.startswith("backup: copying ") for s in steps)
    assert any(s.startswith("backup: fetching ") for s in steps)
    (store,) = (tmp_path / host).glob(f"*{STORE_SUFFIX}")
    (copy,) = (c for c in (tmp_path / host).glob("*.tar.gz") if c != store)
    assert copy.stat().st_mode & 0o777 == 0o600
    assert store.stat().st_mode & 0o777 == 0o600, "the secret store's copy is 0600 too"

    restored = homelab("restore", host, "--local", str(tmp_path), timeout=900)
    print(restored.stdout, restored.stderr)
    assert restored.returncode == 0, restored.stderr
    assert copy.name.removesuffix(".tar.gz") in restored.stdout
    said = [s.split(":", 1)[1].strip().split()[0] for s in restored.stderr.splitlines()]
    assert said == ["connecting", "sending", "stopping", "putting", "keeping", "starting"], said
