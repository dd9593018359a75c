"""Deploys on the lab: both hosts converge, every service answers, a second run changes and
restarts nothing, and the gateway reaches the Studio's MLX servers with the OptiLLM mode on
and off."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from homelab import PROJECT_ROOT
from homelab.load import load_platform
from homelab.model import ROLES, Platform
from homelab.services import Daemon, daemon_named, daemons
from tests.lab.conftest import LAB_INVENTORY, changed, deploy, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]


@pytest.fixture(scope="module")
def lab_platform() -> Platform:
    return load_platform(LAB_INVENTORY)


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> dict[str, Any]:
    """The lab after a deploy (from whatever state the hosts were in)."""
    return deploy()


def enabled(platform: Platform) -> list[Daemon]:
    return [d for role in ROLES for d in daemons(platform, role) if d.enabled]


def timestamps(platform: Platform) -> dict[str, str]:
    out: dict[str, str] = {}
    for role in ROLES:
        units = " ".join(d.unit for d in daemons(platform, role) if d.enabled)
        result = ssh(role, f"systemctl show -p Id -p ActiveEnterTimestamp {units}")
        out[role] = result.stdout
    return out


def gateway_key(platform: Platform) -> str:
    store = platform.mini.layout.secret_store
    result = ssh("mini", f"cat {store}/{platform.gateway.proxy_key.env}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def chat(platform: Platform, handle: str) -> dict[str, Any]:
    port = platform.mini.litellm.listener.port
    response = httpx.post(
        f"http://{platform.addresses['mini']}:{port}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway_key(platform)}"},
        json={"model": handle, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        timeout=120,
    )
    assert response.status_code == 200, f"{handle}: {response.status_code} {response.text[:500]}"
    body: dict[str, Any] = response.json()
    return body


def test_deploy_converges_both_hosts(converged: dict[str, Any]) -> None:
    errors = [op["name"] for op in converged["operations"] if op["error"]]
    assert not errors


def test_every_enabled_service_is_active_and_answers(
    converged: dict[str, Any], lab_platform: Platform
) -> None:
    for d in enabled(lab_platform):
        state = ssh(d.role, f"systemctl is-active {d.unit}").stdout.strip()
        assert state == "active", f"{d.role}/{d.unit}: expected active, found {state}"
        code = ssh(
            d.role,
            f"curl -s -o /dev/null -w '%{{http_code}}' --retry 30 --retry-delay 2 "
            f"--retry-all-errors --max-time 5 {d.health_url}",
            timeout=120,
        ).stdout.strip()
        assert code == "200", f"{d.role}/{d.name}: {d.health_url} answered {code}"


def test_second_run_changes_nothing_and_restarts_nothing(
    converged: dict[str, Any], lab_platform: Platform
) -> None:
    before = timestamps(lab_platform)
    again = deploy()
    assert changed(again) == []
    assert timestamps(lab_platform) == before


def answered_by_mlx(body: dict[str, Any], platform: Platform) -> bool:
    # mlx_lm.server signs its answers with its version; LiteLLM passes the field through.
    version = platform.studio.mlx.package.version
    return str(body.get("system_fingerprint", "")).startswith(version)


def test_mlx_handle_through_optillm(converged: dict[str, Any], lab_platform: Platform) -> None:
    assert lab_platform.gateway.route_via_optillm
    for model in lab_platform.studio.mlx.served:
        body = chat(lab_platform, model.model_id)
        assert body["model"] == model.model_id
        assert answered_by_mlx(body, lab_platform), body


def test_opt_handle_runs_its_technique(converged: dict[str, Any], lab_platform: Platform) -> None:
    for opt in lab_platform.gateway.opt_handles:
        body = chat(lab_platform, opt.handle)
        assert body["choices"][0]["message"]["content"] is not None
        # best-of-n and the other techniques sample several completions upstream.
        assert body["usage"]["completion_tokens"] > 4, body["usage"]


MODE_OFF = """
from homelab.groupdata import siblings

__all__ = ["platform"]

_lab = siblings({lab!r}, "all")["all"]["platform"]
platform = _lab.evolve(gateway=_lab.gateway.evolve(route_via_optillm=False))
"""


def test_mlx_handle_with_optillm_mode_off(
    converged: dict[str, Any], lab_platform: Platform, tmp_path: Path
) -> None:
    """The same lab with route_via_optillm off: MLX handles point straight at their ports."""
    (tmp_path / "group_data").mkdir()
    (tmp_path / "inventory.py").write_text(LAB_INVENTORY.read_text())
    lab_all = str(PROJECT_ROOT / "lab" / "group_data" / "all.py")
    (tmp_path / "group_data" / "all.py").write_text(textwrap.dedent(MODE_OFF.format(lab=lab_all)))
    off = load_platform(tmp_path / "inventory.py")
    assert not off.gateway.route_via_optillm
    try:
        # Its routes (router.yaml, the env file's variables) changed: a reload takes them in.
        assert "LiteLLM gateway | Reload litellm.service (its config changed)" in (
            changed(deploy(tmp_path / "inventory.py"))
        )
        router = ssh("mini", f"cat {daemon_named(off, 'mini', 'litellm').config}").stdout
        for model in off.studio.mlx.served:
            assert f"http://{off.addresses['studio']}:{model.port}/v1" in router
            body = chat(off, model.model_id)
            assert answered_by_mlx(body, off), body
    finally:
        deploy()
    assert chat(lab_platform, lab_platform.studio.mlx.served[0].model_id)
