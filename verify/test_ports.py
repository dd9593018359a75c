"""Each port listens on exactly its declared bind: loopback-only services on loopback alone;
from every other host, LAN services answer and loopback-only ones do not."""

from __future__ import annotations

from typing import Any

from homelab.services import Daemon
from verify import probes
from verify.params import Reach


def binds_of(daemon: Daemon, listening: dict[str, set[tuple[str, int]]]) -> set[str]:
    return {addr for addr, port in listening[daemon.host] if port == daemon.listener.port}


def test_listens_on_its_declared_bind(
    daemon: Daemon, listening: dict[str, set[tuple[str, int]]]
) -> None:
    found = binds_of(daemon, listening)
    expected = {daemon.listener.bind}
    assert found == expected, (
        f"{daemon.name}: expected port {daemon.listener.port} on {daemon.listener.bind} only, "
        f"found it on {sorted(found) or 'no address'}"
    )


def test_lan_service_answers_every_other_host(lan_reach: Reach, hosts: dict[str, Any]) -> None:
    d, seen_from = lan_reach.daemon, lan_reach.seen_from
    code = probes.http_code(hosts[seen_from], lan_reach.url)
    # The health endpoint's promise (test_health), from every other host too: a proxy's error
    # page or a refusal by the service is not the service answering.
    found = "no connection" if code == "000" else f"HTTP {code}"
    assert code == "200", (
        f"{d.name}: expected HTTP 200 from {lan_reach.url} on {seen_from}, found {found}"
    )


def test_fenced_service_refuses_the_hosts_it_is_not_reached_from(
    fenced_reach: Reach, hosts: dict[str, Any]
) -> None:
    d, seen_from = fenced_reach.daemon, fenced_reach.seen_from
    code = probes.http_code(hosts[seen_from], fenced_reach.url, timeout=probes.REFUSED_TIMEOUT)
    allowed = ", ".join(d.reached_from or ())
    assert code == "000", (
        f"{d.name}: expected port {d.listener.port} on {d.host} refused to {seen_from} (its "
        f"fence lets only {allowed} in), found it answering HTTP {code}"
    )


def test_loopback_service_refuses_every_other_host(
    loopback_reach: Reach, hosts: dict[str, Any]
) -> None:
    d, seen_from = loopback_reach.daemon, loopback_reach.seen_from
    code = probes.http_code(hosts[seen_from], loopback_reach.url, timeout=probes.REFUSED_TIMEOUT)
    assert code == "000", (
        f"{d.name}: expected loopback-only port {d.listener.port} on {d.host} closed to "
        f"{seen_from}, found it answering HTTP {code}"
    )
