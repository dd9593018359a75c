"""Open WebUI lists the gateway's models (signed in as the platform's admin account)."""

from __future__ import annotations

from typing import Any

import httpx

from homelab.model import Platform, routes


def test_open_webui_lists_the_gateway_models(hosts: dict[str, Any], platform: Platform) -> None:
    ow = platform.mini.open_webui
    password = (
        hosts["mini"]
        .file(platform.mini.layout.secret_file(ow.admin_password.env))
        .content_string.strip()
    )
    base = f"http://{platform.addresses['mini']}:{ow.listener.port}"
    with httpx.Client(base_url=base, timeout=60) as client:
        signin = client.post(
            "/api/v1/auths/signin", json={"email": ow.admin_email, "password": password}
        )
        assert signin.status_code == 200, (
            f"open-webui: admin sign-in answered {signin.status_code}: {signin.text[:200]}"
        )
        token = signin.json()["token"]
        response = client.get("/api/models", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, f"open-webui: /api/models answered {response.status_code}"
    found = {m["id"] for m in response.json()["data"]}
    expected = {r.handle for r in routes(platform) if not r.internal}
    assert expected <= found, f"open-webui: gateway models missing: {sorted(expected - found)}"
