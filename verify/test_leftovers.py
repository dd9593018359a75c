"""Nothing left over: every unit or plist in the platform's naming is one the data names, and
every listening TCP port is one a declared daemon, sshd or the host's stated base explains."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from homelab.bridge import host_specs
from homelab.model import ROLES, Platform, Role
from homelab.render.units import unit_naming
from homelab.services import daemons, enabled_daemons


@pytest.fixture(scope="session")
def ssh_ports(pytestconfig: pytest.Config) -> dict[Role, int]:
    """The port each host's sshd serves, from the inventory the suite reaches it with."""
    return {
        role: spec.port for role, spec in host_specs(pytestconfig.getoption("--inventory")).items()
    }


def platform_units(host: Any, platform: Platform, role: Role) -> list[str]:
    """The units or plists on the host that the platform's naming rule claims."""
    h = platform.host(role)
    naming = unit_naming(h.layout, h.os)
    command = (
        f"find {shlex.quote(naming.directory)} -maxdepth 1 -type f "
        f"-name {shlex.quote(naming.pattern)}"
    )
    if naming.mark is not None:
        command += f" -exec grep -lF -- {shlex.quote(naming.mark)} {{}} +"
    return sorted(host.check_output(command).split())


@pytest.mark.parametrize("role", ROLES)
def test_no_unit_the_data_does_not_name(
    role: Role, hosts: dict[Role, Any], platform: Platform
) -> None:
    named = {d.unit_path for d in daemons(platform, role)}
    extra = [p for p in platform_units(hosts[role], platform, role) if p not in named]
    assert not extra, (
        f"{role}: {', '.join(Path(p).name for p in extra)} left over: the platform's naming, "
        f"but the data names only {', '.join(sorted(Path(p).name for p in named)) or 'none'}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_listening_port_is_explained(
    role: Role,
    platform: Platform,
    listening: dict[Role, set[tuple[str, int]]],
    ssh_ports: dict[Role, int],
) -> None:
    expected = {d.listener.port: d.name for d in enabled_daemons(platform) if d.role == role}
    expected[ssh_ports[role]] = "sshd"
    expected.update(platform.host(role).base_ports)
    unexplained: dict[int, set[str]] = {}
    for address, port in listening[role]:
        if port not in expected:
            unexplained.setdefault(port, set()).add(address)
    assert not unexplained, (
        f"{role}: "
        + "; ".join(f"port {p} on {', '.join(sorted(a))}" for p, a in sorted(unexplained.items()))
        + " listening, explained by no declared daemon; expected only "
        + ", ".join(f"{p} ({what})" for p, what in sorted(expected.items()))
    )
