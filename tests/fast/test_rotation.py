"""The router's rotation: per-deployment limits and timeouts, and a host out for maintenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from homelab.dossier import write_dossier
from homelab.model import Platform
from homelab.model.naming import ROUTER_PREFIX
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


def limits(platform: Platform, name: str) -> set[int | None]:
    return {
        e["litellm_params"].get("max_parallel_requests")
        for e in model_list(platform)
        if e["model_name"] == name
    }


def test_no_server_is_limited_unless_the_data_says_so(lab_platform: Platform) -> None:
    """LiteLLM refuses a request past the limit (429) rather than holding it: llama.cpp's slots
    queue better in the server itself, so they set no limit."""
    for name in ("router-gguf-tiny-llama", "router-mlx-tiny-llama-a", "fast"):
        assert limits(lab_platform, name) == {None}, (name, limits(lab_platform, name))


@pytest.mark.parametrize(
    ("key", "handle"), [("mlx", "mlx-tiny-llama-a"), ("llama_cpp", "gguf-tiny-llama")]
)
def test_a_router_limit_is_each_deployments_max_parallel_requests(
    lab_platform: Platform, key: str, handle: str
) -> None:
    hosts = dict(lab_platform.hosts)
    for name, h in lab_platform.hosts.items():
        opts = h.services.get(key)
        if opts is None:
            continue
        models = tuple(
            m.evolve(router_limit=1) if m.model_id == handle else m
            for m in opts.models  # type: ignore[attr-defined]
        )
        hosts[name] = h.evolve(**{key: opts.evolve(models=models)})
    limited = lab_platform.evolve(hosts=hosts)
    assert limits(limited, ROUTER_PREFIX + handle) == {1}, limits(limited, ROUTER_PREFIX + handle)


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
    # The groups with somewhere else to go: the replicas, and the alias over them.
    assert groups == {"fast", "router-mlx-tiny-llama-a"}, groups


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


def test_two_replicas_hosts_out_together_are_refused(lab_platform: Platform) -> None:
    """mac2 alone may leave (the Studio serves its replica); with the Studio out too, the
    handle would have nothing."""
    hosts = {
        **lab_platform.hosts,
        **{h: lab_platform.hosts[h].evolve(maintenance="rack move") for h in ("studio", "mac2")},
    }
    with pytest.raises(ValidationError, match=r"mac2\.maintenance: mlx-tiny-llama-a would have"):
        lab_platform.evolve(hosts=hosts)
