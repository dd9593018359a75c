"""Every rule of the seed, as a validator: one case that passes and one that fails."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from homelab.model import (
    Frozen,
    Gateway,
    GitSource,
    Listener,
    OptHandle,
    Platform,
    SecretRef,
    StorageRoot,
)
from homelab.model.naming import Backend, handle_problems
from homelab.model.takeover import Takeover
from homelab.services.afm import Afm
from homelab.services.mlx import MlxModel, MlxServers
from homelab.services.optillm import OptillmProxy
from homelab.services.optillm_local import OptillmLocals
from homelab.services.ov_server import OvModel
from homelab.services.searxng import Searxng

Opts = TypeVar("Opts", bound=Frozen)

SRC = "/Users/thestudio/models/mlx/x"
HUB = "/Users/thestudio/models/hf/hub/models--mlx-community--Qwen2.5-7B-Instruct-4bit"


def mlx(**kw: Any) -> MlxModel:
    base: dict[str, Any] = {
        "model_id": "mlx-qwen2-5-7b-instruct-4bit",
        "repo": "mlx-community/Qwen2.5-7B-Instruct-4bit",
        "source_path": SRC,
        "cache_path": HUB,
        "context_length": 32768,
        "port": 8100,
    }
    return MlxModel(**(base | kw))


def options(platform: Platform, host: str, kind: type[Opts]) -> Opts:
    """The options of the service ``kind`` on ``host`` (which runs it)."""
    found = platform.host(host).get(kind)
    assert found is not None, f"{host} runs no {kind.__name__}"
    return found


def with_host(platform: Platform, name: str, **changes: Any) -> Platform:
    """The platform with the host ``name`` changed (its services by their keys)."""
    return platform.evolve(hosts={**platform.hosts, name: platform.host(name).evolve(**changes)})


def with_models(platform: Platform, *models: MlxModel) -> Platform:
    """The platform serving ``models`` only; no legacy job to take over (it names the
    shipped MLX servers, which may be gone)."""
    mlx_servers = options(platform, "studio", MlxServers)
    return with_host(platform, "studio", mlx=mlx_servers.evolve(models=models), takeover=Takeover())


def error_text(excinfo: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(excinfo.value)


# -- handles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handle", "backend"),
    [
        ("mlx-qwen2-5-7b-instruct-4bit", Backend.MLX),
        ("ov-phi-4-mini-instruct-fp16", Backend.OV),
        ("opt-router-high", Backend.OPT),
        ("mlx-qwen-coder", Backend.MLX),  # "qwen" alone is a model family, not a vendor prefix
    ],
)
def test_canonical_handles_pass(handle: str, backend: Backend) -> None:
    assert handle_problems(handle, backend) == []


@pytest.mark.parametrize(
    ("handle", "backend", "rule"),
    [
        ("mlx-Qwen2-5-7b", Backend.MLX, "lowercase"),
        ("mlx-qwen2.5-7b", Backend.MLX, "dash-only"),
        ("mlx-qwen2_5-7b", Backend.MLX, "dash-only"),
        ("mlx-community/qwen2-5-7b", Backend.MLX, "dash-only"),
        ("mlx-mlx-community-qwen2-5-7b", Backend.MLX, "no vendor prefixes"),
        ("mlx-qwen-qwen2-5-7b", Backend.MLX, "no vendor prefixes"),
        ("qwen2-5-7b", Backend.MLX, "backend's prefix"),
        ("mlx-qwen2-5-7b", Backend.OV, "backend's prefix"),
        ("opt-moa-qwen2-5-7b", Backend.OPT, "technique prefixes belong only in OptiLLM selectors"),
        ("moa-qwen2-5-7b", Backend.OPT, "technique prefixes belong only in OptiLLM selectors"),
    ],
)
def test_bad_handles_name_the_rule(handle: str, backend: Backend, rule: str) -> None:
    problems = handle_problems(handle, backend)
    assert any(rule in p for p in problems), f"expected a problem naming {rule!r}, got {problems}"


def test_mlx_model_id_is_checked_as_a_handle() -> None:
    with pytest.raises(ValidationError) as excinfo:
        mlx(model_id="mlx-community-Qwen2.5")
    assert "model_id" in error_text(excinfo)


def test_ov_model_id_must_be_ov_prefixed() -> None:
    assert OvModel(model_id="ov-qwen2-5-3b-instruct-fp16").model_id.startswith("ov-")
    with pytest.raises(ValidationError, match="does not start with 'ov-'"):
        OvModel(model_id="qwen2-5-3b-instruct-fp16")


def test_opt_selector_carries_the_technique_and_the_internal_name() -> None:
    opt = OptHandle(handle="opt-reasoner", technique="moa", base="mlx-qwen2-5-7b")
    assert opt.selector == "moa-router-mlx-qwen2-5-7b"


def test_opt_handle_refuses_a_technique_prefix() -> None:
    with pytest.raises(ValidationError, match="technique prefix 'bon'"):
        OptHandle(handle="opt-bon-reasoner", technique="bon", base="mlx-qwen2-5-7b")


# -- ports -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "port"),
    [("team", 8100), ("team", 8119), ("experimental", 8120), ("experimental", 8139)],
)
def test_mlx_ports_in_their_tier_pass(tier: str, port: int) -> None:
    assert mlx(tier=tier, port=port).port == port


@pytest.mark.parametrize(
    ("tier", "port"),
    [("team", 8120), ("team", 8099), ("experimental", 8119), ("experimental", 8140)],
)
def test_mlx_ports_outside_their_tier_fail(tier: str, port: int) -> None:
    with pytest.raises(ValidationError) as excinfo:
        mlx(tier=tier, port=port)
    assert f"port: {port} is outside the {tier} range" in error_text(excinfo)


def test_port_numbers_are_ports() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 65535"):
        Listener(port=70000)


def test_two_services_on_one_host_cannot_share_a_port(platform: Platform) -> None:
    searxng = options(platform, "mini", Searxng)
    with pytest.raises(ValidationError) as excinfo:
        with_host(platform, "mini", searxng=searxng.evolve(listener=Listener(port=4020)))
    text = error_text(excinfo)
    # The host's daemons in deploy order: SearXNG's port is taken first, OptiLLM's clashes.
    assert "mini.optillm.listener.port: 4020 is also used by mini.searxng.listener.port" in text
    assert "no two services on one host share a port" in text


def test_two_mlx_models_cannot_share_a_port(platform: Platform) -> None:
    with pytest.raises(ValidationError, match="no two services on one host share a port"):
        with_models(platform, mlx(), mlx(model_id="mlx-llama-3-2-3b-instruct-4bit"))


def test_same_port_on_two_hosts_is_fine(platform: Platform) -> None:
    studio_port = options(platform, "studio", MlxServers).served[0].port
    assert studio_port is not None
    searxng = options(platform, "mini", Searxng)
    moved = with_host(platform, "mini", searxng=searxng.evolve(listener=Listener(port=studio_port)))
    assert options(moved, "mini", Searxng).listener.port == studio_port


def test_optillm_local_ports_stay_out_of_the_mlx_ranges(platform: Platform) -> None:
    locals_ = options(platform, "studio", OptillmLocals)
    local = locals_.instances[0].evolve(
        listener=Listener(port=8130, exposure="lan", lan_reason="x"), enabled=True
    )
    with pytest.raises(ValidationError, match="belong to MLX servers"):
        with_host(platform, "studio", optillm_local=locals_.evolve(instances=(local,)))


# -- exposure --------------------------------------------------------------------------------


def test_lan_exposure_with_a_reason_passes() -> None:
    assert Listener(port=1, exposure="lan", lan_reason="clients").bind == "0.0.0.0"


def test_lan_exposure_without_a_reason_fails() -> None:
    with pytest.raises(ValidationError, match="declared so on purpose"):
        Listener(port=3000, exposure="lan")


def test_loopback_with_a_lan_reason_fails() -> None:
    with pytest.raises(ValidationError, match="lan_reason goes only with exposure 'lan'"):
        Listener(port=3000, lan_reason="oops")


def test_loopback_binds_loopback() -> None:
    assert Listener(port=8888).bind == "127.0.0.1"


# -- handles across the platform -------------------------------------------------------------


def test_handles_are_unique(platform: Platform) -> None:
    with pytest.raises(ValidationError) as excinfo:
        with_models(platform, mlx(), mlx(port=8101))
    assert "(rule: handles are unique)" in error_text(excinfo)


def test_opt_handle_base_must_be_served(platform: Platform) -> None:
    served = options(platform, "studio", MlxServers).served[0].model_id
    ok = OptHandle(handle="opt-reasoner", technique="moa", base=served)
    assert platform.evolve(gateway=platform.gateway.evolve(opt_handles=(ok,))).gateway.opt_handles
    bad = OptHandle(handle="opt-reasoner", technique="moa", base="mlx-not-served")
    with pytest.raises(ValidationError, match="is not a served MLX handle"):
        platform.evolve(gateway=platform.gateway.evolve(opt_handles=(bad,)))


def test_fallbacks_name_declared_handles(platform: Platform) -> None:
    router = platform.gateway.router.evolve(fallbacks=(("mlx-nope", ("ov-nope",)),))
    with pytest.raises(
        ValidationError, match="fallbacks name handles and aliases the gateway serves"
    ):
        platform.evolve(gateway=platform.gateway.evolve(router=router))


def test_routing_via_optillm_needs_optillm(platform: Platform) -> None:
    optillm = options(platform, "mini", OptillmProxy).evolve(enabled=False)
    with pytest.raises(ValidationError, match="need the OptiLLM proxy"):
        with_host(platform, "mini", optillm=optillm)
    off = platform.gateway.evolve(route_via_optillm=False)
    hosts = {**platform.hosts, "mini": platform.host("mini").evolve(optillm=optillm)}
    assert not platform.evolve(hosts=hosts, gateway=off).gateway.route_via_optillm


# -- showroom vs backroom --------------------------------------------------------------------


def test_backroom_model_without_port_passes(platform: Platform) -> None:
    backroom = mlx(source_path="/Volumes/Seagate/models/mlx/x", port=None)
    assert backroom in options(with_models(platform, backroom), "studio", MlxServers).models


def test_backroom_model_gets_no_handle(platform: Platform) -> None:
    backroom = mlx(source_path="/Volumes/Seagate/models/mlx/x", port=8100)
    with pytest.raises(ValidationError) as excinfo:
        with_models(platform, backroom)
    assert "a model stored only on backroom storage gets no handle" in error_text(excinfo)


def test_models_live_on_declared_storage(platform: Platform) -> None:
    with pytest.raises(ValidationError, match="under no declared storage root"):
        with_models(platform, mlx(source_path="/tmp/models/x"))


def test_most_specific_storage_root_wins(platform: Platform) -> None:
    roots = (
        *platform.storage,
        StorageRoot(name="cold", path="/Users/thestudio/models/cold", showroom=False),
    )
    nested = platform.evolve(storage=roots)
    root = nested.storage_of("/Users/thestudio/models/cold/x")
    assert root is not None and root.name == "cold"


# -- secrets ---------------------------------------------------------------------------------


def test_secret_reference_passes() -> None:
    assert SecretRef.model_validate("env:LITELLM_PROXY_KEY").reference == (
        "os.environ/LITELLM_PROXY_KEY"
    )


def test_secret_literal_fails() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Gateway(proxy_key="sk-1234567890")
    text = error_text(excinfo)
    assert "proxy_key" in text and "secrets are references" in text


def test_secret_reference_names_an_env_variable() -> None:
    with pytest.raises(ValidationError, match="is not an environment variable name"):
        SecretRef.model_validate("env:lower case")


# -- the rest --------------------------------------------------------------------------------


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Listener(port=1, prot=2)  # type: ignore[call-arg]


def test_models_are_frozen(platform: Platform) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        platform.gateway.json_logs = False  # type: ignore[misc]


def test_searxng_needs_json() -> None:
    src = GitSource(url="https://example.invalid/searxng", ref="abcdef0")
    assert "json" in Searxng(source=src).formats
    with pytest.raises(ValidationError, match="refuses with 403"):
        Searxng(source=src, formats=("html",))


def test_git_sources_are_pinned() -> None:
    assert GitSource(url="https://example.invalid/x", ref="v1.2.3").ref == "v1.2.3"
    with pytest.raises(ValidationError, match="is a moving branch"):
        GitSource(url="https://example.invalid/x", ref="main")


def test_afm_is_wired_only_with_model_ids() -> None:
    assert Afm(enabled=True, model_ids=("afm-foundation-3b",)).enabled
    with pytest.raises(ValidationError, match="model ids from GET /v1/models are known"):
        Afm(enabled=True)


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1", "999.1.1.1", "224.0.0.1", "a b"])
def test_unreachable_addresses_fail(platform: Platform, address: str) -> None:
    with pytest.raises(ValidationError, match=r"addresses\.studio"):
        platform.evolve(addresses={"mini": "10.1.1.1", "studio": address})


def test_reachable_addresses_pass(platform: Platform) -> None:
    moved = platform.evolve(addresses={"mini": "10.1.1.1", "studio": "studio.lan"})
    assert moved.addresses["studio"] == "studio.lan"


def test_two_hosts_cannot_share_an_address(platform: Platform) -> None:
    with pytest.raises(ValidationError, match="each host has its own address"):
        platform.evolve(addresses={"mini": "10.1.1.1", "studio": "10.1.1.1"})
