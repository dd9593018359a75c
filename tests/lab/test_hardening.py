"""Hardening and exposure on the converged lab: every unit within systemd's exposure limit,
no secret in any process's arguments, and only the ports the data declares LAN-exposed
accept connections from the other host."""

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
from homelab.model import ROLES, Role
from homelab.render import host_files
from homelab.services import daemons
from tests.lab.conftest import LAB_INVENTORY, deploy, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

PLATFORM = load_platform(LAB_INVENTORY)
#: Each host's own sshd (how pyinfra and the operator reach them), not a platform service.
SSH_PORTS = {role: spec.port for role, spec in host_specs(LAB_INVENTORY).items()}


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
    for role in ROLES:
        for daemon in daemons(PLATFORM, role):
            line = next(
                (
                    ln
                    for ln in result.stdout.splitlines()
                    if ln.startswith(f"{role}/{daemon.unit}: ")
                ),
                "",
            )
            score = re.search(r": (\d+\.\d)", line)
            assert score, f"{role}/{daemon.unit}: not in the report"
            assert float(score.group(1)) <= LIMIT, line


def test_the_real_minis_units_score_within_the_limit(converged: None) -> None:
    """The real data's units (ov-server with its GPU devices opened) scored offline on a lab
    host: the homelab's units are never scored by being deployed here."""
    real = load_platform(PROJECT_ROOT / "inventory.py")
    units = {d.unit_path: d.unit for d in daemons(real, "mini")}
    folder = "/run/homelab-real-units"
    assert ssh("mini", f"rm -rf {folder} && mkdir -p {folder}").returncode == 0
    for f in host_files(real, "mini"):
        if f.path in units:
            put = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "homelab.lab",
                    "ssh",
                    "mini",
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
        result = ssh("mini", f"systemd-analyze security --offline=yes {folder}/{unit}")
        score = parse(f"real mini/{unit}", result.stdout + result.stderr)
        assert score.within, f"{score.line()} (limit {LIMIT})"


def secrets_on(role: Role) -> list[str]:
    store = PLATFORM.host(role).layout.secret_store
    listing = ssh(role, f"ls {store} 2>/dev/null")
    values = []
    for name in listing.stdout.split():
        value = ssh(role, f"cat {store}/{name}").stdout.strip()
        if value:
            values.append(value)
    return values


@pytest.mark.parametrize("role", ROLES)
def test_no_secret_in_any_process_arguments(converged: None, role: Role) -> None:
    values = secrets_on(role)
    if role == "mini":
        assert values, "the Mini's services use secrets; its store is empty"
    args = ssh(role, "ps -eo args=").stdout
    leaked = [v[:4] + "…" for v in values if v in args]
    assert not leaked, f"{role}: secrets seen in process arguments: {leaked}"


def listening_ports(role: Role) -> set[int]:
    out = ssh(role, "ss -Htln").stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("role", ROLES)
def test_only_declared_lan_ports_accept_the_other_host(converged: None, role: Role) -> None:
    """Every port listening on the host, tried from the other host."""
    other: Role = "studio" if role == "mini" else "mini"
    address = PLATFORM.addresses[role]
    lan = {d.listener.port for d in daemons(PLATFORM, role) if d.enabled and d.listener.lan}
    ports = listening_ports(role)
    assert lan <= ports, f"{role}: declared LAN ports not listening: {sorted(lan - ports)}"
    probe = " ; ".join(
        f"timeout 2 bash -c 'echo > /dev/tcp/{address}/{port}' 2>/dev/null "
        f"&& echo open {port} || echo closed {port}"
        for port in sorted(ports)
    )
    seen = ssh(other, probe).stdout.split("\n")
    opened = {int(line.split()[1]) for line in seen if line.startswith("open ")}
    assert opened == lan | {SSH_PORTS[role]}, (
        f"{role}: from {other}, expected open {sorted(lan | {SSH_PORTS[role]})}, found open "
        f"{sorted(opened)} (listening: {sorted(ports)})"
    )


def test_the_report_refuses_an_exposed_unit() -> None:
    """The limit bites: systemd's score of an unhardened unit is read as over it."""
    line = "→ Overall exposure level for bare.service: 9.6 UNSAFE 😨"
    assert not parse("x/bare.service", line).within
