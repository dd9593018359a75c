"""Open WebUI lists the gateway's models (signed in as the platform's admin account), on every
host whose data places it."""

from __future__ import annotations

from typing import Any

import httpx

from homelab.model import Platform
from homelab.services.open_webui import SERVICE as OPEN_WEBUI


def test_open_webui_lists_the_gateway_models(
    open_webui_host: str, host: Any, platform: Platform
) -> None:
    ow = OPEN_WEBUI.on(platform, open_webui_host)
    assert ow is not None
    layout = platform.host(open_webui_host).layout
    password = host.file(layout.secret_file(ow.admin_password.env)).content_string.strip()
    base = f"http://{platform.addresses[open_webui_host]}:{ow.listener.port}"
    with httpx.Client(base_url=base, timeout=60) as client:
        signin = client.post(
            "/api/v1/auths/signin", json={"email": ow.admin_email, "password": password}
        )
        assert signin.status_code == 200, (
            f"open-webui: expected 200 from the admin sign-in on {open_webui_host}, found "
            f"{signin.status_code}: {signin.text[:200]}"
        )
        token = signin.json()["token"]
        response = client.get("/api/models", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, (
        f"open-webui: expected 200 from /api/models on {open_webui_host}, found "
        f"{response.status_code}"
    )
    found = {m["id"] for m in response.json()["data"]}
    # The gateway lists only its aliases when the data says so (gateway.list_aliases_only).
    listed = platform.gateway.list_aliases_only
    expected = (
        {a.name for a in platform.gateway.aliases}
        if listed
        else {r.handle for r in platform.routes() if not r.internal}
    )
    assert expected <= found, (
        f"open-webui: expected every model the gateway lists on {open_webui_host}, missing "
        f"{sorted(expected - found)}"
    )
