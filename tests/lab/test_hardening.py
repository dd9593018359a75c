"""Hardening and exposure on the converged lab: every unit within systemd's exposure limit,
no secret in any process's arguments, and only the ports the data declares LAN-exposed
accept connections from every other host."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.bridge import host_specs
from homelab.hardening import LIMIT, parse
from homelab.load import load_platform
from homelab.render import host_files
from homelab.services import Daemon, daemons
from tests.lab.conftest import LAB_INVENTORY, deploy, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

PLATFORM = load_platform(LAB_INVENTORY)
#: Each host's own sshd (how pyinfra and the operator reach them), not a platform service.
SSH_PORTS = {host: spec.port for host, spec in host_specs(LAB_INVENTORY).items()}
#: Each host and every other host of the lab, the one a port is tried from.
REACHES = [(host, other) for host in PLATFORM.hosts for other in PLATFORM.hosts if other != host]


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> None:
    deploy()


def test_the_report_scores_every_unit_within_the_limit(converged: None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "homelab.cli", "hardening", "--inventory", str(LAB_INVENTORY)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, f"over the limit or unscored:\n{result.stdout}"
    for host in PLATFORM.hosts:
        for daemon in daemons(PLATFORM, host):
            line = next(
                (
                    ln
                    for ln in result.stdout.splitlines()
                    if ln.startswith(f"{host}/{daemon.unit}: ")
                ),
                "",
            )
            score = re.search(r": (\d+\.\d)", line)
            assert score, f"{host}/{daemon.unit}: not in the report"
            assert float(score.group(1)) <= LIMIT, line


def test_the_real_systemd_units_score_within_the_limit(converged: None) -> None:
    """The real data's systemd units (the Mini's ov-server with its GPU devices opened), every
    real host's, scored offline on a lab host: the homelab's units are never scored by being
    deployed here."""
    real = load_platform(PROJECT_ROOT / "inventory.py")
    systemd = [name for name, host in real.hosts.items() if host.os.init.name == "systemd"]
    assert systemd, "no real host runs systemd: nothing to score"
    for name in systemd:
        # On the lab's host of the same name, else on any: the lab's hosts all run systemd.
        on = name if name in PLATFORM.hosts else next(iter(PLATFORM.hosts))
        units = {d.unit_path: d.unit for d in daemons(real, name)}
        folder = f"/run/homelab-real-units/{name}"
        assert ssh(on, f"rm -rf {folder} && mkdir -p {folder}").returncode == 0
        for f in host_files(real, name):
            if f.path in units:
                put = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "homelab.lab",
                        "ssh",
                        on,
                        f"cat > {folder}/{units[f.path]}",
                    ],
                    input=f.content,
                    cwd=PROJECT_ROOT,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert put.returncode == 0, put.stderr
        for unit in units.values():
            result = ssh(on, f"systemd-analyze security --offline=yes {folder}/{unit}")
            score = parse(f"real {name}/{unit}", result.stdout + result.stderr)
            assert score.within, f"{score.line()} (limit {LIMIT})"


def secrets_on(host: str) -> list[str]:
    store = PLATFORM.host(host).layout.secret_store
    listing = ssh(host, f"ls {store} 2>/dev/null")
    values = []
    for name in listing.stdout.split():
        value = ssh(host, f"cat {store}/{name}").stdout.strip()
        if value:
            values.append(value)
    return values


@pytest.mark.parametrize("host", list(PLATFORM.hosts))
def test_no_secret_in_any_process_arguments(converged: None, host: str) -> None:
    values = secrets_on(host)
    if any(d.secrets for d in daemons(PLATFORM, host) if d.enabled):
        assert values, f"{host}'s services use secrets; its store is empty"
    args = ssh(host, "ps -eo args=").stdout
    leaked = [v[:4] + "…" for v in values if v in args]
    assert not leaked, f"{host}: secrets seen in process arguments: {leaked}"


def listening_ports(host: str) -> set[int]:
    out = ssh(host, "ss -Htln").stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize(("host", "other"), REACHES, ids=[f"{h}-from-{o}" for h, o in REACHES])
def test_only_declared_lan_ports_accept_every_other_host(
    converged: None, host: str, other: str
) -> None:
    """Every port listening on the host, tried from one other host (each in turn): open are
    the declared LAN ports, but a fenced one (the node exporter's) only to the hosts it is
    reached from."""
    address = PLATFORM.addresses[host]
    declared = [d for d in daemons(PLATFORM, host) if d.enabled and d.listener.lan]
    ports = listening_ports(host)
    every = {d.listener.port for d in declared}
    assert every <= ports, f"{host}: declared LAN ports not listening: {sorted(every - ports)}"
    lan = {
        d.listener.port
        for d in declared
        if d.fence_path is None or d.reached_from is None or other in d.reached_from
    }
    probe = " ; ".join(
        f"timeout 2 bash -c 'echo > /dev/tcp/{address}/{port}' 2>/dev/null "
        f"&& echo open {port} || echo closed {port}"
        for port in sorted(ports)
    )
    seen = ssh(other, probe).stdout.split("\n")
    opened = {int(line.split()[1]) for line in seen if line.startswith("open ")}
    assert opened == lan | {SSH_PORTS[host]}, (
        f"{host}: from {other}, expected open {sorted(lan | {SSH_PORTS[host]})}, found open "
        f"{sorted(opened)} (listening: {sorted(ports)})"
    )


FENCED = [d for h in PLATFORM.hosts for d in daemons(PLATFORM, h) if d.enabled and d.fence_path]


@pytest.mark.parametrize("daemon", FENCED[:1], ids=[f"{d.host}/{d.name}" for d in FENCED[:1]])
def test_a_fence_lives_and_goes_with_its_unit(converged: None, daemon: Daemon) -> None:
    """The packet filter's table is loaded by the unit's start and removed by its stop, so a
    unit that leaves the host (prune stops it) takes its fence with it."""

    def tables() -> list[str]:
        return ssh(daemon.host, "nft list tables").stdout.split()

    assert daemon.fence_table in tables(), f"{daemon.name}: its table is not loaded"
    ssh(daemon.host, f"systemctl stop {daemon.unit}")
    try:
        assert daemon.fence_table not in tables(), f"{daemon.name}: stopped, its table stays"
    finally:
        ssh(daemon.host, f"systemctl start {daemon.unit}")
    assert daemon.fence_table in tables(), f"{daemon.name}: started, its table is not back"


def test_the_report_refuses_an_exposed_unit() -> None:
    """The limit bites: systemd's score of an unhardened unit is read as over it."""
    line = "→ Overall exposure level for bare.service: 9.6 UNSAFE 😨"
    assert not parse("x/bare.service", line).within
