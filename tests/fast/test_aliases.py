"""Aliases: the gateway's public names over handles, as deployments of one LiteLLM group."""

from __future__ import annotations

import ast
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from homelab.model import HostFile, Platform
from homelab.services import daemon_named
from homelab.services.litellm import (
    SERVICE,
    fallbacks,
    gateway_host,
    handles,
    listing_module,
    router_yaml,
)


def with_aliases(platform: Platform, *aliases: dict[str, Any], **router: Any) -> Platform:
    gw = platform.gateway
    return platform.evolve(gateway=gw.evolve(aliases=aliases, router=gw.router.evolve(**router)))


def entries(platform: Platform, name: str) -> list[dict[str, Any]]:
    config = yaml.safe_load(router_yaml(platform))
    return [e for e in config["model_list"] if e["model_name"] == name]


def test_an_alias_is_a_group_of_its_handles_deployments_in_order(platform: Platform) -> None:
    fast = dict(
        name="fast", handles=("ov-qwen2-5-1-5b-instruct-fp16", "ov-qwen2-5-3b-instruct-fp16")
    )
    found = entries(with_aliases(platform, fast), "fast")
    orders = [(e["litellm_params"]["order"], e["litellm_params"]["model"]) for e in found]
    assert orders == [
        (1, "os.environ/OV_QWEN2_5_1_5B_INSTRUCT_FP16_MODEL"),
        (2, "os.environ/OV_QWEN2_5_3B_INSTRUCT_FP16_MODEL"),
    ], orders


def test_weights_pick_by_weight_instead_of_order(platform: Platform) -> None:
    mixed = dict(
        name="mixed",
        handles=("ov-qwen2-5-1-5b-instruct-fp16", "ov-qwen2-5-3b-instruct-fp16"),
        weights=(3, 1),
    )
    found = entries(with_aliases(platform, mixed), "mixed")
    params = [e["litellm_params"] for e in found]
    assert [p.get("weight") for p in params] == [3, 1], params
    assert all("order" not in p for p in params), params


def test_a_replicated_handle_brings_every_deployment_into_its_alias(
    lab_platform: Platform,
) -> None:
    direct = lab_platform.gateway.evolve(route_via_optillm=False, opt_handles=())
    lab = lab_platform.evolve(gateway=direct)
    fast = dict(name="fast", handles=("mlx-tiny-llama-a",))
    found = entries(with_aliases(lab, fast, fallbacks=()), "fast")
    bases = sorted(e["litellm_params"]["api_base"] for e in found)
    expected = sorted(f"http://{lab.addresses[h]}:8100/v1" for h in ("studio", "mac2"))
    assert bases == expected, bases


def test_an_alias_is_no_row_of_the_handles_registry(platform: Platform) -> None:
    fast = dict(name="fast", handles=("ov-qwen2-5-3b-instruct-fp16",))
    rows = [r["handle"] for r in handles(with_aliases(platform, fast))]
    assert "fast" not in rows and len(rows) == len(set(rows)), rows


@pytest.mark.parametrize(
    ("alias", "router", "rule"),
    [
        (dict(name="fast", handles=("mlx-nope",)), {}, "an alias names handles the gateway serves"),
        (
            dict(name="fast", handles=("mlx-llama-3-3-70b-instruct-4bit",)),
            {},
            "an alias names handles the gateway serves; a backroom model has none",
        ),
        (
            dict(
                name="fast",
                handles=("ov-qwen2-5-3b-instruct-fp16", "ov-phi-4-mini-instruct-fp16"),
            ),
            {},
            "an alias's handles agree on the context it promises",
        ),
        (dict(name="mlx-fast", handles=("ov-qwen2-5-3b-instruct-fp16",)), {}, "not a handle"),
        (
            dict(name="fast", handles=("ov-qwen2-5-3b-instruct-fp16",)),
            dict(
                fallbacks=(
                    ("fast", ("ov-qwen2-5-3b-instruct-fp16",)),
                    ("ov-qwen2-5-3b-instruct-fp16", ("fast",)),
                )
            ),
            "no fallback cycle",
        ),
        (
            dict(name="fast", handles=("ov-qwen2-5-3b-instruct-fp16",), weights=(1, 2)),
            {},
            "one weight per handle",
        ),
    ],
    ids=["missing", "backroom", "context", "prefix", "cycle", "weights"],
)
def test_a_bad_alias_is_refused_naming_the_rule(
    platform: Platform, alias: dict[str, Any], router: dict[str, Any], rule: str
) -> None:
    with pytest.raises(ValidationError, match=rule):
        with_aliases(platform, alias, **router)


def test_a_context_difference_with_its_reason_is_accepted(platform: Platform) -> None:
    alias = dict(
        name="fast",
        handles=("ov-qwen2-5-3b-instruct-fp16", "ov-phi-4-mini-instruct-fp16"),
        context_differs_because="the second is only a fallback for short prompts",
    )
    assert with_aliases(platform, alias).gateway.aliases[0].name == "fast"


def test_an_alias_in_fallbacks_is_rendered_by_its_name(platform: Platform) -> None:
    fast = dict(name="fast", handles=("ov-qwen2-5-1-5b-instruct-fp16",))
    deep = dict(name="deep", handles=("ov-qwen2-5-3b-instruct-fp16",))
    both = with_aliases(platform, fast, deep, fallbacks=(("fast", ("deep",)),))
    config = yaml.safe_load(router_yaml(both))
    assert {"fast": ["deep"]} in config["router_settings"]["fallbacks"], config["router_settings"]


def test_an_alias_goes_straight_to_the_servers_in_the_optillm_mode(
    lab_platform: Platform,
) -> None:
    """Its deployments are the handle's servers (one per replica), not OptiLLM's proxy: a
    stream arrives as the server writes it; and it needs no fallback to the direct routes."""
    assert lab_platform.gateway.route_via_optillm
    fast = dict(name="fast", handles=("mlx-tiny-llama-a",))
    lab = with_aliases(lab_platform, fast, fallbacks=())
    bases = sorted(e["litellm_params"]["api_base"] for e in entries(lab, "fast"))
    expected = sorted(f"http://{lab.addresses[h]}:8100/v1" for h in ("studio", "mac2"))
    assert bases == expected, bases
    assert "fast" not in dict(fallbacks(lab)), fallbacks(lab)


def test_an_alias_through_optillm_takes_the_handles_route_and_its_fallback(
    lab_platform: Platform,
) -> None:
    fast = dict(name="fast", handles=("mlx-tiny-llama-a",), through_optillm=True)
    lab = with_aliases(lab_platform, fast, fallbacks=())
    found = entries(lab, "fast")
    assert [e["litellm_params"]["model"] for e in found] == [
        "os.environ/OPTILLM_MLX_TINY_LLAMA_A_MODEL"
    ], found
    assert dict(fallbacks(lab))["fast"] == ("router-mlx-tiny-llama-a",)


FAST = dict(name="fast", handles=("ov-qwen2-5-1-5b-instruct-fp16",))
DEEP = dict(name="deep", handles=("ov-qwen2-5-3b-instruct-fp16",))


def listing_aliases_only(platform: Platform, *aliases: dict[str, Any]) -> Platform:
    gw = platform.gateway.evolve(aliases=aliases, list_aliases_only=True)
    return platform.evolve(gateway=gw)


def gateway_files(platform: Platform) -> list[HostFile]:
    daemon = daemon_named(platform, gateway_host(platform), SERVICE.name)
    return SERVICE.files(platform, daemon)


def listed_names(module: str) -> set[str]:
    """The names the rendered listing module keeps: its ``LISTED`` literal."""
    for node in ast.parse(module).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "LISTED":
            assert isinstance(node.value, ast.Call), ast.unparse(node)
            return set(ast.literal_eval(node.value.args[0]))
    raise AssertionError(f"no LISTED in the listing module:\n{module}")


def test_listing_only_the_aliases_registers_the_hook_by_its_modules_path(
    platform: Platform,
) -> None:
    p = listing_aliases_only(platform, FAST, DEEP)
    daemon = daemon_named(p, gateway_host(p), SERVICE.name)
    callbacks = yaml.safe_load(router_yaml(p))["litellm_settings"].get("callbacks")
    # LiteLLM loads <folder>/listing.py for it, whichever folder router.yaml is read from.
    expected = [f"{daemon.config_dir}/listing.aliases_only", "prometheus"]
    assert callbacks == expected, f"expected callbacks {expected}, found {callbacks}"


def test_listing_only_the_aliases_places_its_module_before_router_yaml(
    platform: Platform,
) -> None:
    p = listing_aliases_only(platform, FAST, DEEP)
    daemon = daemon_named(p, gateway_host(p), SERVICE.name)
    paths = [f.path for f in gateway_files(p)]
    module = listing_module(p)
    assert module.startswith(f"{daemon.config_dir}/"), f"{module} is not beside router.yaml"
    assert module in paths and paths.index(module) < paths.index(str(daemon.config)), (
        f"expected {module} before {daemon.config}, found {paths}"
    )


def test_the_listing_module_is_kept_like_router_yaml(platform: Platform) -> None:
    p = listing_aliases_only(platform, FAST)
    by_path = {f.path: f for f in gateway_files(p)}
    daemon = daemon_named(p, gateway_host(p), SERVICE.name)
    module, router = by_path[listing_module(p)], by_path[str(daemon.config)]
    found = (module.group, module.mode, module.restarts)
    expected = (router.group, router.mode, router.restarts)
    assert found == expected, f"expected (group, mode, restarts) {expected}, found {found}"


def test_the_listing_module_keeps_exactly_the_aliases(platform: Platform) -> None:
    p = listing_aliases_only(platform, FAST, DEEP)
    module = next(f for f in gateway_files(p) if f.path == listing_module(p)).content
    compile(module, listing_module(p), "exec")
    assert listed_names(module) == {"fast", "deep"}, module
    assert "aliases_only = AliasesOnly()" in module, module


def test_the_switch_off_names_no_hook(platform: Platform) -> None:
    p = with_aliases(platform, FAST)
    settings = yaml.safe_load(router_yaml(p))["litellm_settings"]
    assert settings.get("callbacks") == ["prometheus"], settings


def test_the_module_stays_whatever_the_switch_so_nothing_is_left_stale(
    platform: Platform,
) -> None:
    """Turning the switch off changes router.yaml only; no file of the gateway is orphaned."""
    on = with_aliases(platform, FAST).evolve(
        gateway=with_aliases(platform, FAST).gateway.evolve(list_aliases_only=True)
    )
    off = with_aliases(platform, FAST)
    assert [f.path for f in gateway_files(on)] == [f.path for f in gateway_files(off)]


def test_listing_only_the_aliases_without_an_alias_is_refused(platform: Platform) -> None:
    rule = r"gateway\.list_aliases_only: .*\(rule: listing only the aliases needs at least one"
    with pytest.raises(ValidationError, match=rule):
        listing_aliases_only(platform)


def test_a_dot_in_the_gateways_config_dir_is_refused_with_the_switch(
    platform: Platform,
) -> None:
    """LiteLLM splits a callback's name at its dots: the module's folder cannot have one."""
    name = gateway_host(platform)
    host = platform.hosts[name]
    dotted = host.evolve(layout=host.layout.evolve(etc="/etc/homelab.llm"))
    moved = platform.evolve(hosts={**platform.hosts, name: dotted})
    with pytest.raises(ValidationError, match=r"rule: the gateway's config dir has no dot"):
        listing_aliases_only(moved, FAST)
