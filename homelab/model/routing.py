"""A gateway route: which handle goes where, under which upstream name.

Each service contributes its routes (``ServiceModule.routes``); the gateway folds over them
(``Platform.routes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from homelab.model.base import SecretRef
from homelab.model.gateway import Alias
from homelab.model.naming import ROUTER_PREFIX, Backend


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
    #: For an alias's deployment: the handle it stands for, and its place (1 first) or weight.
    alias_of: str | None = None
    order: int | None = None
    weight: int | None = None
    #: Seconds this deployment may take before the router gives up on it (None: the router's).
    timeout: int | None = None
    #: Requests the router sends this deployment at once (LiteLLM's max_parallel_requests).
    max_parallel: int | None = None
    #: The host whose server answers it (None: OptiLLM's detour, which is no replica).
    host: str | None = None

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


def url(host: str, port: int, path: str = "/v1") -> str:
    return f"http://{host}:{port}{path}"


def max_output_tokens(explicit: int | None, context_length: int, default: int) -> int:
    """A model's output limit: the one it states, else the gateway's default within its context
    (a reply cannot be longer than the context it is written into)."""
    return explicit if explicit is not None else min(default, context_length)


def alias_routes(routes: Iterable[Route], aliases: Iterable[Alias]) -> Iterator[Route]:
    """Each alias's deployments: a copy of every client route of each of its handles (every
    replica of it), under the alias's name, with its place in the alias's order or its weight.

    LiteLLM's router then treats them as one group: it picks by order (a lower one first, a
    higher one only while the lower are failing or cooling down) or by weight, and its retries
    and cooldowns work across the alias as across a handle's replicas.

    An alias not through OptiLLM takes a handle's direct routes (its ``router-*`` ones, one per
    server) where the handle goes through OptiLLM: the servers themselves are its deployments.
    """
    by_handle: dict[str, list[Route]] = {}
    direct: dict[str, list[Route]] = {}
    for route in routes:
        if not route.internal:
            by_handle.setdefault(route.handle, []).append(route)
        elif route.handle.startswith(ROUTER_PREFIX):
            direct.setdefault(route.handle.removeprefix(ROUTER_PREFIX), []).append(route)
    for alias in aliases:
        ranked = len(alias.handles) > 1 and not alias.weights
        for i, handle in enumerate(alias.handles):
            chosen = by_handle.get(handle, [])
            if not alias.through_optillm and handle in direct:
                chosen = direct[handle]
            for route in chosen:
                yield replace(
                    route,
                    handle=alias.name,
                    internal=False,
                    alias_of=handle,
                    order=i + 1 if ranked else None,
                    weight=alias.weights[i] if alias.weights else None,
                )
