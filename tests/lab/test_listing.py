"""gateway.list_aliases_only on the lab: deployed through the usual path (the listing module
beside router.yaml, the candidate checked by LiteLLM's own loader), /v1/models lists exactly the
aliases, a handle still answers by name, and turning it off lists every name again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.lab import Lab, gateway_key, lan_gateway_url
from bench.variant import changed_lab
from homelab.load import load_platform
from homelab.model import Platform
from tests.lab.conftest import LAB_INVENTORY, changed, deploy

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]


@pytest.fixture(scope="module")
def lab_platform(lab: dict[str, Any]) -> Platform:
    deploy()
    return load_platform(LAB_INVENTORY)


def listed(platform: Platform, key: str) -> set[str]:
    response = httpx.get(
        lan_gateway_url(platform, "/v1/models"),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:300]
    return {m["id"] for m in response.json()["data"]}


def test_only_the_aliases_are_listed_and_a_handle_still_answers(
    lab_platform: Platform, tmp_path: Path
) -> None:
    key = gateway_key(Lab.load(), lab_platform)
    aliases = {a.name for a in lab_platform.gateway.aliases}
    handle = next(h.handle for h in lab_platform.handles())
    inventory = changed_lab(
        tmp_path, "lab.evolve(gateway=lab.gateway.evolve(list_aliases_only=True))"
    )
    try:
        ops = changed(deploy(inventory))
        assert "LiteLLM gateway | Reload litellm.service (its config changed)" in ops, ops
        found = listed(lab_platform, key)
        assert found == aliases, (
            f"expected only the aliases {sorted(aliases)}, found {sorted(found)}"
        )
        answer = httpx.post(
            lan_gateway_url(lab_platform, "/v1/chat/completions"),
            json={
                "model": handle,
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 4,
            },
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert answer.status_code == 200, f"{handle} by name: {answer.text[:300]}"
    finally:
        deploy()
    everything = {r.handle for r in lab_platform.routes()}
    found = listed(lab_platform, key)
    assert found == everything, f"switch off: missing {sorted(everything - found)}"
