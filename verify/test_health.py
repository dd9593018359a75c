"""Each service's health endpoint answers 200 on its host (LiteLLM: liveliness and readiness)."""

from __future__ import annotations

from typing import Any

from homelab.model import Platform
from homelab.services import Daemon
from homelab.services.litellm import gateway_url
from verify import probes


def test_health_endpoint(daemon: Daemon, host: Any) -> None:
    code = probes.http_code(host, daemon.health_url)
    assert code == "200", f"{daemon.name}: expected 200 from {daemon.health_url}, found {code}"


def test_gateway_readiness(
    hosts: dict[str, Any], platform: Platform, gateway_host_name: str
) -> None:
    url = gateway_url(platform, probes.GATEWAY_READINESS)
    code = probes.http_code(hosts[gateway_host_name], url)
    assert code == "200", f"litellm: expected 200 from {url} on {gateway_host_name}, found {code}"
