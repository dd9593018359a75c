"""Each port listens on exactly its declared bind: loopback-only services on loopback alone;
from the other host, LAN services answer and loopback-only ones do not."""

from __future__ import annotations

from typing import Any

from homelab.model import Platform, Role
from homelab.services import Daemon
from verify import probes


def binds_of(daemon: Daemon, listening: dict[Role, set[tuple[str, int]]]) -> set[str]:
    return {addr for addr, port in listening[daemon.role] if port == daemon.listener.port}


def test_listens_on_its_declared_bind(
    daemon: Daemon, listening: dict[Role, set[tuple[str, int]]]
) -> None:
    found = binds_of(daemon, listening)
    expected = {daemon.listener.bind}
    assert found == expected, (
        f"{daemon.name}: expected port {daemon.listener.port} on {daemon.listener.bind} only, "
        f"found it on {sorted(found) or 'no address'}"
    )


def other(role: Role) -> Role:
    return "studio" if role == "mini" else "mini"


def test_lan_service_answers_the_other_host(
    lan_daemon: Daemon, hosts: dict[Role, Any], platform: Platform
) -> None:
    d = lan_daemon
    url = probes.other_host_url(platform, d)
    code = probes.http_code(hosts[other(d.role)], url)
    assert code != "000", f"{d.name}: expected {url} to answer {other(d.role)}, found no connection"


def test_loopback_service_refuses_the_other_host(
    loopback_daemon: Daemon, hosts: dict[Role, Any], platform: Platform
) -> None:
    d = loopback_daemon
    url = probes.other_host_url(platform, d)
    code = probes.http_code(hosts[other(d.role)], url, timeout=probes.REFUSED_TIMEOUT)
    assert code == "000", (
        f"{d.name}: expected loopback-only port {d.listener.port} closed to {other(d.role)}, "
        f"found it answering HTTP {code}"
    )
