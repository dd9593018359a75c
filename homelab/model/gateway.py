"""The gateway's settings: routing, retries, logging, keys, search and the OptiLLM mode."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from homelab.model.base import Bool, Frozen, Name, SecretRef
from homelab.model.naming import ROUTER_PREFIX, Backend, Technique, handle_problems


class RouterSettings(Frozen):
    """LiteLLM ``router_settings``: how hard to retry and how long to rest a failing upstream."""

    num_retries: int = Field(default=2, ge=0, le=10)
    allowed_fails: int = Field(default=3, ge=0)
    cooldown_time: int = Field(default=30, ge=0, description="seconds a failing upstream rests")
    timeout: int = Field(default=600, gt=0, description="seconds before a request is abandoned")
    fallbacks: tuple[tuple[str, tuple[str, ...]], ...] = Field(
        default=(), description="(handle, handles to try when it fails)"
    )


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
    search_tool: Name = "searxng-search"
    search_max_results: int = Field(default=5, ge=1, le=50)

    @property
    def uses_optillm(self) -> bool:
        """Whether any route goes through the OptiLLM proxy (the mode, or an opt-* handle)."""
        return self.route_via_optillm or bool(self.opt_handles)
