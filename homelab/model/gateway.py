"""The gateway's settings: routing, retries, logging, keys, search and the OptiLLM mode."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, model_validator

from homelab.model.base import Bool, Frozen, Name, SecretRef
from homelab.model.naming import ROUTER_PREFIX, Backend, Technique, handle_problems

#: LiteLLM's routing strategies among a group's deployments (its ``routing_strategy``).
RoutingStrategy = Literal[
    "simple-shuffle",
    "least-busy",
    "usage-based-routing",
    "usage-based-routing-v2",
    "latency-based-routing",
    "cost-based-routing",
]


class RouterSettings(Frozen):
    """LiteLLM ``router_settings``: how the gateway picks among the deployments of one name,
    how hard it retries, how long a failing deployment rests, and where a name falls back."""

    routing_strategy: RoutingStrategy = Field(
        default="simple-shuffle",
        description="how a deployment of a name is picked; simple-shuffle (LiteLLM's default) "
        "keeps no shared state (no Redis): a random healthy deployment, by weight where the "
        "data gives weights, and a deployment in cooldown is left out",
    )
    weighted_failover: Bool = Field(
        default=True,
        description="a failed request is tried again on another deployment of its name, by "
        "weight (LiteLLM's enable_weighted_failover): a plain retry may pick the deployment "
        "that just failed, so a dead replica would fail requests until its cooldown",
    )
    num_retries: int = Field(default=2, ge=0, le=10)
    allowed_fails: int = Field(default=3, ge=0)
    cooldown_time: int = Field(default=30, ge=0, description="seconds a failing upstream rests")
    timeout: int = Field(default=600, gt=0, description="seconds before a request is abandoned")
    server_timeout: int | None = Field(
        default=None,
        gt=0,
        description="seconds a request waits on one model server (MLX, llama.cpp) before the "
        "router tries another deployment (LiteLLM's per-deployment timeout and stream_timeout): "
        "a hung server, which accepts and never answers, costs this long, not the whole "
        "timeout; set it above the slowest answer a server gives (None: the timeout)",
    )
    health_check_interval: int | None = Field(
        default=None,
        gt=0,
        description="seconds between the gateway's probes of each model server (LiteLLM's "
        "background health checks: a one-token chat, given server_timeout to answer); a server "
        "that fails one leaves its groups until one passes (enable_health_check_routing), so "
        "clients stop paying its timeout before the cooldowns have counted its failures. "
        "None: no probes, cooldowns alone",
    )
    fallbacks: tuple[tuple[str, tuple[str, ...]], ...] = Field(
        default=(), description="(handle or alias, handles or aliases to try when it fails)"
    )
    context_window_fallbacks: tuple[tuple[str, tuple[str, ...]], ...] = Field(
        default=(),
        description="(handle or alias, larger ones to try when a request exceeds its context)",
    )


_ALIAS = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class Alias(Frozen):
    """A public name of the gateway: clients keep it while the handles behind it change.

    Its handles are tried in the order given (the first that answers), or picked by weight
    when ``weights`` are given; a handle served on several hosts brings each deployment."""

    name: str = Field(description="the name clients send as their model: fast, deep, code")
    handles: tuple[str, ...] = Field(min_length=1)
    weights: tuple[int, ...] = Field(
        default=(), description="one per handle: picked by weight instead of in order"
    )
    context_differs_because: str | None = Field(
        default=None,
        description="why its handles' context lengths may differ (else they must agree: a "
        "client of the alias relies on the context it promises)",
    )
    through_optillm: Bool = Field(
        default=False,
        description="False: straight to its handles' servers, whatever the gateway's OptiLLM "
        "mode (a stream arrives as the server writes it; OptiLLM's proxy gathers the whole "
        "answer before it sends one chunk); True: through OptiLLM, as its handles are in that "
        "mode, for OptiLLM's techniques",
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems = []
        if not _ALIAS.match(self.name):
            problems.append(
                f"name: {self.name!r} is not a lowercase dash-separated name (rule: aliases "
                "are plain names: fast, deep, code)"
            )
        prefixes = (*(f"{b.value}-" for b in Backend), ROUTER_PREFIX)
        if self.name.startswith(prefixes):
            problems.append(
                f"name: {self.name!r} starts with a handle's prefix (rule: an alias is not a "
                f"handle: {', '.join(prefixes)} are the handles')"
            )
        if self.weights and len(self.weights) != len(self.handles):
            problems.append(
                f"weights: {len(self.weights)} weights for {len(self.handles)} handles "
                "(rule: one weight per handle)"
            )
        if any(w <= 0 for w in self.weights):
            problems.append("weights: a weight is not positive (rule: weights are 1 or more)")
        if len(set(self.handles)) != len(self.handles):
            problems.append("handles: a handle is named twice (rule: once each)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class OptHandle(Frozen):
    """An ``opt-*`` handle: a technique run by OptiLLM on top of an MLX handle."""

    handle: str
    technique: Technique
    base: str = Field(description="the mlx-* handle OptiLLM runs the technique on")

    @model_validator(mode="after")
    def _canonical(self) -> Self:
        problems = [f"handle: {p}" for p in handle_problems(self.handle, Backend.OPT)]
        problems += [f"base: {p}" for p in handle_problems(self.base, Backend.MLX)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def selector(self) -> str:
        """The model name sent to OptiLLM: technique prefix + the internal loop-free name."""
        return f"{self.technique.value}-{ROUTER_PREFIX}{self.base}"


class Gateway(Frozen):
    """Everything about routing through LiteLLM that spans both hosts."""

    proxy_key: SecretRef = SecretRef(env="LITELLM_PROXY_KEY")
    optillm_key: SecretRef = SecretRef(env="OPTILLM_API_KEY")
    router: RouterSettings = RouterSettings()
    json_logs: Bool = True
    drop_params: Bool = True
    default_max_output_tokens: int = Field(default=65536, gt=0)
    route_via_optillm: Bool = Field(
        default=True,
        description="MLX handles go through OptiLLM, which calls back with router-mlx-* names",
    )
    opt_handles: tuple[OptHandle, ...] = ()
    aliases: tuple[Alias, ...] = ()
    list_aliases_only: Bool = Field(
        default=False,
        description="when on, /v1/models lists only the aliases (and /model/info, "
        "/model_group/info with it); handles still answer when called by name",
    )
    search_tool: Name = "searxng-search"
    search_max_results: int = Field(default=5, ge=1, le=50)

    @property
    def uses_optillm(self) -> bool:
        """Whether any route goes through the OptiLLM proxy (the mode, or an opt-* handle)."""
        return self.route_via_optillm or bool(self.opt_handles)
