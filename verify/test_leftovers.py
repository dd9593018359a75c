"""Nothing left over: every unit or plist in the platform's naming is one the data names, and
every listening TCP port is one a declared daemon, sshd or the host's stated base explains."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from homelab.bridge import host_specs
from homelab.model import Platform


@pytest.fixture(scope="session")
def ssh_ports(pytestconfig: pytest.Config) -> dict[str, int]:
    """The port each host's sshd serves, from the inventory the suite reaches it with."""
    return {
        name: spec.port for name, spec in host_specs(pytestconfig.getoption("--inventory")).items()
    }


def platform_units(host: Any, platform: Platform, name: str) -> list[str]:
    """The units or plists on the host that the platform's naming rule claims."""
    h = platform.host(name)
    naming = h.os.init.naming(h.layout)
    command = (
        f"find {shlex.quote(naming.directory)} -maxdepth 1 -type f "
        f"-name {shlex.quote(naming.pattern)}"
    )
    if naming.mark is not None:
        command += f" -exec grep -lF -- {shlex.quote(naming.mark)} {{}} +"
    return sorted(host.check_output(command).split())


def test_no_unit_the_data_does_not_name(host_name: str, host: Any, platform: Platform) -> None:
    named = {p for d in platform.daemons(host_name) for p in d.unit_paths}
    extra = [p for p in platform_units(host, platform, host_name) if p not in named]
    assert not extra, (
        f"{host_name}: {', '.join(Path(p).name for p in extra)} left over: the platform's "
        f"naming, but the data names only "
        f"{', '.join(sorted(Path(p).name for p in named)) or 'none'}"
    )


def test_every_listening_port_is_explained(
    host_name: str,
    platform: Platform,
    listening: dict[str, set[tuple[str, int]]],
    ssh_ports: dict[str, int],
) -> None:
    expected = {d.listener.port: d.name for d in platform.daemons(host_name) if d.enabled}
    expected[ssh_ports[host_name]] = "sshd"
    expected.update(platform.host(host_name).base_ports)
    unexplained: dict[int, set[str]] = {}
    for address, port in listening[host_name]:
        if port not in expected:
            unexplained.setdefault(port, set()).add(address)
    assert not unexplained, (
        f"{host_name}: "
        + "; ".join(f"port {p} on {', '.join(sorted(a))}" for p, a in sorted(unexplained.items()))
        + " listening, explained by no declared daemon; expected only "
        + ", ".join(f"{p} ({what})" for p, what in sorted(expected.items()))
    )
