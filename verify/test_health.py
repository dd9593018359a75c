"""Each service's health endpoint answers 200 on its host (LiteLLM: liveliness and readiness)."""

from __future__ import annotations

from typing import Any

from homelab.services import Daemon
from homelab.services.litellm import gateway_url
from verify import probes


def test_health_endpoint(daemon: Daemon, host: Any) -> None:
    code = probes.http_code(host, daemon.health_url)
    assert code == "200", f"{daemon.name}: expected 200 from {daemon.health_url}, found {code}"


def test_gateway_readiness(hosts: dict[str, Any], platform: Any) -> None:
    url = gateway_url(platform, "/health/readiness")
    code = probes.http_code(hosts["mini"], url)
    assert code == "200", f"litellm: expected 200 from {url}, found {code}"
