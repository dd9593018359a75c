"""The gateway's routing table, derived: which handle goes where, under which upstream name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homelab.model.base import LOOPBACK, SecretRef, env_name
from homelab.model.naming import ROUTER_PREFIX, Backend
from homelab.services.mlx import max_output_tokens

if TYPE_CHECKING:
    from homelab.model.platform import Platform


@dataclass(frozen=True)
class Route:
    """One ``model_list`` entry of the gateway."""

    handle: str
    backend: Backend
    upstream_model: str
    api_base: str
    max_input_tokens: int
    max_output_tokens: int
    api_key: SecretRef | None = None
    internal: bool = False
    #: Seed: ov-* and OptiLLM-bound routes read their base and model from OV_*/OPTILLM_* vars.
    env_prefix: str | None = None
    #: Extra JSON the gateway adds to each request body (OptiLLM's ``proxy_wrap``).
    extra_body: tuple[tuple[str, str], ...] = ()

    @property
    def litellm_model(self) -> str:
        """OpenAI-compatible upstreams: the handle stays the alias, the backend gets openai/."""
        return f"openai/{self.upstream_model}"

    @property
    def env(self) -> dict[str, str]:
        """The variables this route reads from the gateway's environment (none when direct)."""
        if self.env_prefix is None:
            return {}
        return {
            f"{self.env_prefix}_API_BASE": self.api_base,
            f"{self.env_prefix}_MODEL": self.litellm_model,
        }


#: mlx_lm.server loads any other model name it is sent (from the hub, if it is not a local
#: path), dropping the one it serves; this name always means the model it was started with.
MLX_SERVED_MODEL = "default_model"


def url(host: str, port: int, path: str = "/v1") -> str:
    return f"http://{host}:{port}{path}"


def routes(platform: Platform) -> tuple[Route, ...]:
    """Every gateway route: client handles first, then internal router-* names."""
    gw = platform.gateway
    studio = platform.addresses["studio"]
    optillm = url(LOOPBACK, platform.mini.optillm.listener.port)
    out: list[Route] = []

    for model in platform.studio.mlx.served:
        assert model.port is not None
        direct = url(studio, model.port)
        max_out = max_output_tokens(
            model.max_output_tokens, model.context_length, gw.default_max_output_tokens
        )
        if gw.route_via_optillm:
            out.append(
                Route(
                    handle=model.model_id,
                    backend=Backend.MLX,
                    upstream_model=ROUTER_PREFIX + model.model_id,
                    api_base=optillm,
                    api_key=gw.optillm_key,
                    max_input_tokens=model.context_length,
                    max_output_tokens=max_out,
                    env_prefix="OPTILLM_" + env_name(model.model_id),
                )
            )
        else:
            out.append(
                Route(
                    handle=model.model_id,
                    backend=Backend.MLX,
                    upstream_model=MLX_SERVED_MODEL,
                    api_base=direct,
                    max_input_tokens=model.context_length,
                    max_output_tokens=max_out,
                )
            )

    ov = platform.mini.ov_server
    if ov.enabled:
        for ov_model in ov.models:
            out.append(
                Route(
                    handle=ov_model.model_id,
                    backend=Backend.OV,
                    upstream_model=ov_model.model_id,
                    # ov-server binds all addresses for maintenance; the gateway uses loopback.
                    api_base=url("localhost", ov.listener.port),
                    max_input_tokens=ov_model.context_length,
                    max_output_tokens=max_output_tokens(
                        None, ov_model.context_length, gw.default_max_output_tokens
                    ),
                    env_prefix=env_name(ov_model.model_id),
                )
            )

    context = {m.model_id: m for m in platform.studio.mlx.served}
    for opt in gw.opt_handles:
        base = context[opt.base]
        out.append(
            Route(
                handle=opt.handle,
                backend=Backend.OPT,
                upstream_model=opt.selector,
                api_base=optillm,
                api_key=gw.optillm_key,
                # OptiLLM's proxy approach drops technique prefixes from the model name; it
                # runs the technique named by proxy_wrap through its providers.
                extra_body=(("proxy_wrap", opt.technique.value),),
                max_input_tokens=base.context_length,
                max_output_tokens=max_output_tokens(
                    base.max_output_tokens, base.context_length, gw.default_max_output_tokens
                ),
                env_prefix="OPTILLM_" + env_name(opt.handle),
            )
        )

    for local in platform.studio.optillm_local:
        if local.enabled:
            out.append(
                Route(
                    handle=local.handle,
                    backend=Backend.OPT,
                    upstream_model=local.model,
                    api_base=url(studio, local.listener.port),
                    api_key=gw.optillm_key,
                    max_input_tokens=gw.default_max_output_tokens,
                    max_output_tokens=gw.default_max_output_tokens,
                )
            )

    afm = platform.studio.afm
    if afm.enabled:
        for model_id in afm.model_ids:
            out.append(
                Route(
                    handle=model_id,
                    backend=Backend.AFM,
                    upstream_model=model_id,
                    api_base=url(studio, afm.listener.port),
                    max_input_tokens=gw.default_max_output_tokens,
                    max_output_tokens=gw.default_max_output_tokens,
                )
            )

    # Loop avoidance: OptiLLM calls the gateway back with router-mlx-* names, which must go
    # straight to the MLX ports, never through OptiLLM again. Needed by opt-* handles too.
    if gw.uses_optillm:
        for model in platform.studio.mlx.served:
            assert model.port is not None
            out.append(
                Route(
                    handle=ROUTER_PREFIX + model.model_id,
                    backend=Backend.MLX,
                    upstream_model=MLX_SERVED_MODEL,
                    api_base=url(studio, model.port),
                    max_input_tokens=model.context_length,
                    max_output_tokens=max_output_tokens(
                        model.max_output_tokens, model.context_length, gw.default_max_output_tokens
                    ),
                    internal=True,
                )
            )
    return tuple(out)
