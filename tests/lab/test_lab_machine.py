"""The lab itself: up, status, ssh, the hosts' network, down, idempotency and recovery.

The hosts are the ones ``lab/inventory.py`` lists. The tests run in file order and each leaves
the lab in the state the next expects; the last one leaves it up for the lab tests that deploy
to it. Only the inventory's last host is ever destroyed (the first ones hold the deploys).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.lab import aptsources, cgroups, lifecycle, procs
from homelab.lab.config import NAT_TAG, SUITE, UV_CACHE_IN_HOST, load_config
from tests.lab.conftest import lab_status, run_lab, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

CONFIG = load_config()
HOSTS = list(CONFIG.hosts)
PYINFRA = (sys.executable, "-m", "pyinfra")


def leftovers() -> list[str]:
    """Everything of a lab still on the machine, each found without the lab's state file."""
    found: list[str] = []
    hosts_dir = str(CONFIG.hosts_dir)
    for pid in procs.all_pids():
        argv = procs.cmdline(pid)
        ours = any(hosts_dir in arg for arg in argv)
        if argv and "systemd-nspawn" in argv[0] and ours and procs.is_alive(pid):
            found.append(f"nspawn process {pid}")
    found += [f"container init {pid}" for pid in procs.lab_inits(CONFIG.hosts_dir)]
    if Path("/sys/class/net", CONFIG.bridge).exists():
        found.append(f"bridge {CONFIG.bridge}")
    for name in lifecycle.host_names(CONFIG):
        if Path("/sys/class/net", f"vb-{name}").exists():
            found.append(f"veth vb-{name}")
    for table in ("nat", "filter"):
        listing = subprocess.run(
            ["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True, check=True
        ).stdout
        found += [f"{table} rule: {line}" for line in listing.splitlines() if NAT_TAG in line]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if any(point.startswith(f"{d}/") for d in CONFIG.owned_dirs):
            found.append(f"mount {point}")
    for name in lifecycle.host_names(CONFIG):
        found += [f"cgroup {p}" for p in cgroups.host_cgroups(name) if p.exists()]
    if CONFIG.state_file.exists():
        found.append(f"state file {CONFIG.state_file}")
    return found


def nspawn_pids() -> dict[str, int]:
    status = lab_status()
    return {name: host["pid"] for name, host in status["hosts"].items()}


def assert_up(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    status = lab_status()
    assert status["up"] is True, status
    assert list(status["hosts"]) == HOSTS
    for name in HOSTS:
        assert status["hosts"][name]["systemd"] == "running", status["hosts"][name]
    return status


@contextlib.contextmanager
def occupied_range() -> Iterator[None]:
    """A veth on this machine with an address in the lab's range, as another network would."""
    subprocess.run(
        ["ip", "link", "add", "hltest0", "type", "veth", "peer", "name", "hltest1"], check=True
    )
    try:
        address = str(CONFIG.subnet[200])
        subprocess.run(["ip", "addr", "add", f"{address}/24", "dev", "hltest0"], check=True)
        yield
    finally:
        subprocess.run(["ip", "link", "delete", "hltest0"], check=False)


# From a machine with no lab ------------------------------------------------------------


def test_down_leaves_nothing_behind_even_when_nothing_is_up() -> None:
    result = run_lab("down")
    assert result.returncode == 0, result.stderr
    assert leftovers() == []
    result = run_lab("down")
    assert result.returncode == 0, result.stderr


def test_status_of_a_down_lab() -> None:
    status = lab_status()
    assert status["schema"] == 1
    assert status["up"] is False
    assert {h["systemd"] for h in status["hosts"].values()} == {"stopped"}


def test_an_occupied_address_range_stops_up_with_one_line_and_makes_nothing() -> None:
    with occupied_range():
        result = run_lab("up")
        assert result.returncode == 1
        lines = [line for line in result.stderr.splitlines() if "error" in line]
        assert len(lines) == 1, result.stderr
        assert "already in use" in lines[0] and "HOMELAB_LAB_SUBNET" in lines[0]
        assert leftovers() == []


def test_up_brings_every_host_to_running() -> None:
    status = assert_up(run_lab("up"))
    for name in HOSTS:
        host = status["hosts"][name]
        assert host["name"] == name
        assert host["address"] == CONFIG.address(name)
        assert host["ssh_user"] == "root"
        assert Path(host["ssh_key"]).is_file()
        assert host["running"] is True
        assert host["uv_cache_dir"] == UV_CACHE_IN_HOST
        assert isinstance(host["pid"], int)


def test_ssh_runs_a_command_on_each_host() -> None:
    for name in HOSTS:
        result = ssh(name, "systemctl is-system-running")
        assert result.stdout.strip() == "running", result.stderr
        assert ssh(name, "hostname").stdout.strip() == name


def test_hosts_reach_each_other_by_address() -> None:
    for name, other in ((n, o) for n in HOSTS for o in HOSTS if n != o):
        result = ssh(name, f"ping -c 1 -W 3 {CONFIG.address(other)}")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 received" in result.stdout
        resolved = ssh(name, f"getent hosts {other}").stdout.split()
        assert resolved[0] == CONFIG.address(other)


def test_hosts_share_one_uv_cache() -> None:
    marker = f"{UV_CACHE_IN_HOST}/.lab-test-{os.getpid()}"
    try:
        assert ssh(HOSTS[0], f"echo shared > {marker}").returncode == 0
        for name in HOSTS[1:]:
            assert ssh(name, f"cat {marker}").stdout.strip() == "shared"
        assert (CONFIG.uv_cache / Path(marker).name).read_text().strip() == "shared"
    finally:
        (CONFIG.uv_cache / Path(marker).name).unlink(missing_ok=True)


def test_hosts_reach_the_registries_trusting_the_machines_cas() -> None:
    # The registries are the machine's own: the Debian sources its apt uses, as the hosts get
    # them (an https one is fetched with the CAs the hosts share with the machine).
    sources = aptsources.debian_stanzas(aptsources.machine_stanzas(), SUITE)
    releases = {f"{s['URIs'].split()[0]}/dists/{s['Suites'].split()[0]}/Release" for s in sources}
    assert releases, f"the machine's apt sources name no Debian archive for {SUITE}"
    for url in sorted(releases):
        result = ssh("mini", f"curl -sS -o /dev/null -w '%{{http_code}}' {url}")
        code = result.stdout.strip()
        assert code == "200", f"mini: expected HTTP 200 from {url}, found {code}: {result.stderr}"
    result = ssh("studio", "apt-get update -q", timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_the_lab_inventory_drives_pyinfra() -> None:
    result = subprocess.run(
        [*PYINFRA, "-y", "lab/inventory.py", "exec", "--", "systemctl is-system-running"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr  # pyinfra reports on stderr
    assert result.returncode == 0, output[-3000:]
    for name in HOSTS:
        assert f"[{name}] running" in " ".join(output.split()), output[-3000:]


# Idempotency and recovery --------------------------------------------------------------


def test_up_twice_leaves_the_same_hosts() -> None:
    before = nspawn_pids()
    started = time.monotonic()
    result = run_lab("up")
    assert_up(result)
    assert "already up" in result.stderr
    assert time.monotonic() - started < 30
    assert nspawn_pids() == before
    assert len(procs.lab_nspawns(CONFIG.hosts_dir)) == len(HOSTS)


def test_up_follows_the_inventory_stopping_and_booting_only_what_changed(
    tmp_path: Path,
) -> None:
    *others, last = HOSTS
    fewer = tmp_path / "inventory.py"
    fewer.write_text(
        "from homelab.lab.config import load_config\n\n"
        f"homelab = load_config().inventory({tuple(others)!r})\n"
    )
    before = nspawn_pids()
    result = run_lab("up", "--inventory", str(fewer))
    assert result.returncode == 0, result.stderr
    assert f"{last}: stopping" in result.stderr
    status = lab_status()
    assert status["hosts"][last]["systemd"] == "stopped"
    assert not Path("/sys/class/net", f"vb-{last}").exists()
    assert not any(p.exists() for p in cgroups.host_cgroups(last))
    assert (CONFIG.host_root(last) / "etc" / "hostname").is_file()  # its root is kept
    for name in others:
        assert status["hosts"][name]["pid"] == before[name]  # never restarted
        assert ssh(name, f"getent hosts {last}").returncode == 2  # gone from /etc/hosts
    result = run_lab("up")
    status = assert_up(result)
    assert f"{last}: booting" in result.stderr and "copying" not in result.stderr
    assert {name: status["hosts"][name]["pid"] for name in others} == {
        name: before[name] for name in others
    }
    for name in others:
        resolved = ssh(name, f"getent hosts {last}").stdout.split()
        assert resolved[0] == CONFIG.address(last)


def test_up_recovers_a_lab_whose_nspawn_processes_were_killed() -> None:
    before = nspawn_pids()
    for pid in before.values():
        os.kill(pid, signal.SIGKILL)
    procs.wait_gone(before.values(), 10)
    status = lab_status()
    assert status["up"] is False
    result = run_lab("up")
    status = assert_up(result)
    assert "cleaned up" in result.stderr
    after = {name: host["pid"] for name, host in status["hosts"].items()}
    assert set(after.values()).isdisjoint(before.values())
    # The killed nspawns' container inits were stopped too, not left running beside the new.
    assert len(procs.lab_inits(CONFIG.hosts_dir)) == len(HOSTS)
    assert ssh(HOSTS[0], "systemctl is-system-running").stdout.strip() == "running"


def test_down_stops_everything_it_made() -> None:
    result = run_lab("down")
    assert result.returncode == 0, result.stderr
    assert leftovers() == []
    for name in HOSTS:
        assert (CONFIG.host_root(name) / "etc" / "hostname").read_text().strip() == name


def test_up_recovers_from_leftovers_of_a_killed_lab() -> None:
    stale_mount = CONFIG.lab_dir / "stale-mount"
    stale_mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ip", "link", "add", CONFIG.bridge, "type", "bridge"], check=True)
    subprocess.run(
        [
            "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", str(CONFIG.subnet),
            "-m", "comment", "--comment", NAT_TAG, "-j", "MASQUERADE",
        ],
        check=True,
    )  # fmt: skip
    subprocess.run(["mount", "-t", "tmpfs", "stale", str(stale_mount)], check=True)
    CONFIG.state_file.write_text('{"version": 1, "bridge": "x", "hosts": {"mini": 12}}')
    try:
        result = run_lab("up")
        assert_up(result)
        assert "cleaned up" in result.stderr
    finally:
        result = run_lab("down")
        stale_mount.rmdir()
    assert result.returncode == 0, result.stderr
    assert leftovers() == []


def test_destroy_rebuilds_a_host_from_the_cached_base() -> None:
    # The last host: the first ones keep what the deploy tests converged on them.
    first, last = HOSTS[0], HOSTS[-1]
    assert_up(run_lab("up"))
    for name in (first, last):
        assert ssh(name, "echo kept > /root/lab-test-marker").returncode == 0
    result = run_lab("destroy", last)
    assert result.returncode == 0, result.stderr
    assert not CONFIG.host_root(last).exists()
    assert CONFIG.host_root(first).is_dir()
    assert leftovers() == []
    assert_up(run_lab("up"))
    assert ssh(first, "cat /root/lab-test-marker").stdout.strip() == "kept"
    assert ssh(last, "test -e /root/lab-test-marker").returncode == 1
    assert ssh(first, "rm /root/lab-test-marker").returncode == 0


# Last: leave the lab up for the lab tests that deploy to it ---------------------------


def test_the_lab_is_left_up() -> None:
    assert_up(run_lab("up"))
    for name in HOSTS:
        assert ssh(name, "systemctl is-system-running").stdout.strip() == "running"
