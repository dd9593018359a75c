"""The router's rotation: per-deployment limits and timeouts, and a host out for maintenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from homelab.dossier import write_dossier
from homelab.model import Platform
from homelab.services.litellm import router_yaml


def model_list(platform: Platform) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(router_yaml(platform))["model_list"]
    return entries


def bases(platform: Platform, name: str) -> list[str]:
    return sorted(
        e["litellm_params"]["api_base"] for e in model_list(platform) if e["model_name"] == name
    )


def away(platform: Platform, host: str, why: str = "new disk") -> Platform:
    hosts = {**platform.hosts, host: platform.hosts[host].evolve(maintenance=why)}
    return platform.evolve(hosts=hosts)


def test_a_host_in_maintenance_leaves_every_group_it_served(lab_platform: Platform) -> None:
    mac2 = f"http://{lab_platform.addresses['mac2']}:8100/v1"
    names = ("router-mlx-tiny-llama-a", "fast")
    assert all(mac2 in bases(lab_platform, n) for n in names), "mac2 serves no replica here"
    out = away(lab_platform, "mac2")
    for name in names:
        left = bases(out, name)
        assert mac2 not in left, f"{name}: expected {mac2} out of the rotation, found {left}"
        assert left, f"{name}: expected the Studio's deployment to stay, found none"


def test_maintenance_lifted_brings_the_host_back(lab_platform: Platform) -> None:
    back = away(lab_platform, "mac2").evolve(
        hosts={**lab_platform.hosts, "mac2": lab_platform.hosts["mac2"]}
    )
    assert router_yaml(back) == router_yaml(lab_platform)


def test_maintenance_keeps_the_hosts_services(lab_platform: Platform) -> None:
    """Out of the rotation, not stopped: the work on it may need them running."""
    before = [d.name for d in lab_platform.daemons("mac2") if d.enabled]
    after = [d.name for d in away(lab_platform, "mac2").daemons("mac2") if d.enabled]
    assert after == before


@pytest.mark.parametrize(
    ("host", "rule"),
    [
        ("studio", r"studio\.maintenance: mlx-tiny-llama-b.* would have no deployment left"),
        ("mini", r"mini\.maintenance: .*would have no deployment left"),
    ],
)
def test_maintenance_that_would_leave_a_handle_unserved_is_refused(
    lab_platform: Platform, host: str, rule: str
) -> None:
    with pytest.raises(ValidationError, match=rule):
        away(lab_platform, host)


def test_a_slot_count_limits_what_the_router_sends_at_once(lab_platform: Platform) -> None:
    """llama.cpp's slots are what its server decodes at once; the gateway holds the rest (on
    each deployment that reaches the server: the direct one OptiLLM calls back)."""
    found = [
        e["litellm_params"].get("max_parallel_requests")
        for e in model_list(lab_platform)
        if e["model_name"] == "router-gguf-tiny-llama"
    ]
    slots = lab_platform.host("mini").services["llama_cpp"].models[0].parallel  # type: ignore[attr-defined]
    assert found and set(found) == {slots}, found


def test_an_mlx_server_has_no_limit_unless_the_data_gives_one(lab_platform: Platform) -> None:
    limits = {
        e["litellm_params"].get("max_parallel_requests")
        for e in model_list(lab_platform)
        if e["model_name"] == "router-mlx-tiny-llama-a"
    }
    assert limits == {None}, limits


def test_a_server_timeout_bounds_each_model_server_deployment(lab_platform: Platform) -> None:
    gw = lab_platform.gateway
    timed = lab_platform.evolve(gateway=gw.evolve(router=gw.router.evolve(server_timeout=7)))
    direct = [
        e["litellm_params"] for e in model_list(timed) if e["model_name"].startswith("router-")
    ]
    assert direct and all(p.get("timeout") == 7 and p.get("stream_timeout") == 7 for p in direct), (
        direct
    )


def test_probes_cover_the_model_servers_groups_and_decide_the_routing(
    lab_platform: Platform,
) -> None:
    config = yaml.safe_load(router_yaml(lab_platform))
    interval = lab_platform.gateway.router.health_check_interval
    assert interval is not None, "the lab probes its servers"
    general, router = config["general_settings"], config["router_settings"]
    assert (general.get("background_health_checks"), general.get("health_check_interval")) == (
        True,
        interval,
    ), general
    assert router.get("enable_health_check_routing") is True, router
    groups = set(router["background_health_check_model_groups"])
    assert {"fast", "router-mlx-tiny-llama-a", "router-gguf-tiny-llama"} <= groups, groups
    assert not groups & {"deep", "mlx-tiny-llama-a"}, f"OptiLLM's and ov's groups probed: {groups}"


def test_no_interval_no_probes(platform: Platform) -> None:
    config = yaml.safe_load(router_yaml(platform))
    assert "background_health_checks" not in config["general_settings"], config["general_settings"]
    assert "enable_health_check_routing" not in config["router_settings"], config["router_settings"]


def test_the_dossier_says_which_host_is_out_for_maintenance(
    lab_platform: Platform, tmp_path: Path, dot: str
) -> None:
    md, _svg = write_dossier(away(lab_platform, "mac2", "fan swap"), tmp_path)
    rows = [line for line in md.read_text().splitlines() if line.startswith("| mac2 |")]
    assert rows and rows[0].endswith("| out for maintenance: fan swap |"), rows
