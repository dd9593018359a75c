"""Deploys on the lab: every host converges, every service answers, a second run changes and
restarts nothing, and the gateway answers every MLX handle of every host with the OptiLLM mode
on and off (its router naming each server behind a handle, a replica's too, when it is off)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from homelab import PROJECT_ROOT
from homelab.load import load_platform
from homelab.model import Platform
from homelab.services import Daemon, daemon_named, daemons, mlx
from homelab.services.litellm import gateway, gateway_host
from homelab.services.mlx import MlxModel
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
    return platform.enabled_daemons()


def timestamps(platform: Platform) -> dict[str, str]:
    out: dict[str, str] = {}
    for host in platform.hosts:
        units = " ".join(d.unit for d in daemons(platform, host) if d.enabled)
        if not units:
            continue
        result = ssh(host, f"systemctl show -p Id -p ActiveEnterTimestamp {units}")
        out[host] = result.stdout
    return out


def gateway_key(platform: Platform) -> str:
    home = gateway_host(platform)
    store = platform.host(home).layout.secret_store
    result = ssh(home, f"cat {store}/{platform.gateway.proxy_key.env}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def chat(platform: Platform, handle: str) -> dict[str, Any]:
    port = gateway(platform).listener.port
    response = httpx.post(
        f"http://{platform.addresses[gateway_host(platform)]}:{port}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway_key(platform)}"},
        json={"model": handle, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        timeout=120,
    )
    assert response.status_code == 200, f"{handle}: {response.status_code} {response.text[:500]}"
    body: dict[str, Any] = response.json()
    return body


def test_deploy_converges_every_host(converged: dict[str, Any]) -> None:
    errors = [op["name"] for op in converged["operations"] if op["error"]]
    assert not errors
    assert not converged["failed_hosts"], converged["failed_hosts"]


def test_every_enabled_service_is_active_and_answers(
    converged: dict[str, Any], lab_platform: Platform
) -> None:
    for d in enabled(lab_platform):
        state = ssh(d.host, f"systemctl is-active {d.unit}").stdout.strip()
        assert state == "active", f"{d.host}/{d.unit}: expected active, found {state}"
        code = ssh(
            d.host,
            f"curl -s -o /dev/null -w '%{{http_code}}' --retry 30 --retry-delay 2 "
            f"--retry-all-errors --max-time 5 {d.health_url}",
            timeout=120,
        ).stdout.strip()
        assert code == "200", f"{d.host}/{d.name}: {d.health_url} answered {code}"


def test_second_run_changes_nothing_and_restarts_nothing(
    converged: dict[str, Any], lab_platform: Platform
) -> None:
    before = timestamps(lab_platform)
    again = deploy()
    assert changed(again) == []
    assert timestamps(lab_platform) == before


def answered_by_mlx(body: dict[str, Any], platform: Platform) -> bool:
    # mlx_lm.server signs its answers with its version; LiteLLM passes the field through.
    versions = {servers.package.version for _host, servers in mlx.SERVICE.placed(platform)}
    return any(str(body.get("system_fingerprint", "")).startswith(v) for v in versions)


def served(platform: Platform) -> list[tuple[str, MlxModel]]:
    """(host, model) of every served MLX model, every host serving it (replicas too)."""
    return [(host, model) for host, _i, model in mlx.SERVICE.deployments(platform)]


def handles(platform: Platform) -> list[str]:
    """Every MLX handle, once (a replicated one has several servers behind it)."""
    return list(dict.fromkeys(model.model_id for _host, model in served(platform)))


def test_mlx_handle_through_optillm(converged: dict[str, Any], lab_platform: Platform) -> None:
    assert lab_platform.gateway.route_via_optillm
    assert handles(lab_platform), "the lab serves no MLX model"
    for handle in handles(lab_platform):
        body = chat(lab_platform, handle)
        assert body["model"] == handle
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
    """The same lab with route_via_optillm off: MLX handles point straight at their ports, a
    replicated handle at each of its hosts' ports."""
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
        home = gateway_host(off)
        router = ssh(home, f"cat {daemon_named(off, home, 'litellm').config}").stdout
        for host, model in served(off):
            assert f"http://{off.address(host, home)}:{model.port}/v1" in router, (host, model)
        for handle in handles(off):
            body = chat(off, handle)
            assert answered_by_mlx(body, off), body
    finally:
        deploy()
    assert chat(lab_platform, handles(lab_platform)[0])
