"""What backends of one model per port share (MLX, llama.cpp): handles across replicas, the
gateway's routes to them (through OptiLLM or direct), their endpoints, and the replica rule.

A backend states each served model as a :class:`~homelab.model.service.Served` (where in the
data, on which host and port, under which upstream name); nothing here knows which backend it
is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Protocol

from pydantic import Field

from homelab.model.base import env_name
from homelab.model.naming import ROUTER_PREFIX
from homelab.model.routing import Route, max_output_tokens, url
from homelab.model.service import Handle, Served

if TYPE_CHECKING:
    from homelab.model.platform import Platform

#: A per-port server's limit at the gateway, the same field on each such backend's models.
RouterLimit = Annotated[
    int | None,
    Field(
        gt=0,
        description="requests the gateway sends this server at once, per gateway worker "
        "(LiteLLM's max_parallel_requests): one more is refused by the gateway (429) and "
        "retried on another deployment, and the refusal counts toward the server's cooldown; "
        "for replicas of a server that serves one request at a time. None: no limit (the "
        "server queues what it cannot serve yet)",
    ),
]

#: A per-port server's model asked a short request right after its server starts (loaded,
#: its first user request does not pay the load), the same field on each such backend.
Warm = Annotated[
    bool,
    Field(
        strict=True,
        description="asked one short request right after its server starts, so the first user "
        "request after a restart does not pay the load; the answer's time shows in verify and "
        "homelab status",
    ),
]


class Stored(Protocol):
    """A per-port backend's model entry as :func:`weights` reads it."""

    @property
    def repo(self) -> str: ...

    @property
    def port(self) -> int | None: ...


def weights(models: Iterable[Stored]) -> dict[str, bool]:
    """Each repository the entries name, with whether one of them is served (has a port):
    what ``homelab weights prune`` keeps."""
    out: dict[str, bool] = {}
    for m in models:
        out[m.repo] = out.get(m.repo, False) or m.port is not None
    return out


def handles(served: Iterable[Served]) -> Iterator[Handle]:
    """One handle per model id: a replica on another host is the same handle; a second entry
    on one host is not (the platform's rule refuses the handle declared twice)."""
    hosts_of: dict[str, set[str]] = {}
    for s in served:
        seen = hosts_of.setdefault(s.handle, set())
        if not seen or s.host in seen:
            yield Handle(s.handle, s.backend, f"{s.at}.model_id", s.host)
        seen.add(s.host)


def routes(platform: Platform, served: Iterable[Served]) -> Iterator[Route]:
    """Each deployment's gateway route: through OptiLLM when the gateway's mode says so (one
    route per handle), and the internal ``router-*`` route straight to the server, which
    OptiLLM calls back with (loop avoidance) and ``opt-*`` handles need."""
    from homelab.services.litellm import gateway_host
    from homelab.services.optillm import proxy_url

    gw = platform.gateway
    seen_from = gateway_host(platform)
    optillm = proxy_url(platform)
    via_optillm: set[str] = set()
    for s in served:
        max_out = max_output_tokens(
            s.max_output_tokens, s.context_length, gw.default_max_output_tokens
        )
        direct = url(platform.address(s.host, seen_from), s.port)
        if gw.route_via_optillm and optillm is not None:
            if s.handle not in via_optillm:
                via_optillm.add(s.handle)
                yield Route(
                    handle=s.handle,
                    backend=s.backend,
                    upstream_model=ROUTER_PREFIX + s.handle,
                    api_base=optillm,
                    api_key=gw.optillm_key,
                    max_input_tokens=s.context_length,
                    max_output_tokens=max_out,
                    env_prefix="OPTILLM_" + env_name(s.handle),
                )
        else:
            yield Route(
                handle=s.handle,
                backend=s.backend,
                upstream_model=s.upstream_model,
                api_base=direct,
                max_input_tokens=s.context_length,
                max_output_tokens=max_out,
                timeout=gw.router.server_timeout,
                max_parallel=s.router_limit,
                host=s.host,
            )
        if gw.uses_optillm:
            yield Route(
                handle=ROUTER_PREFIX + s.handle,
                backend=s.backend,
                upstream_model=s.upstream_model,
                api_base=direct,
                max_input_tokens=s.context_length,
                max_output_tokens=max_out,
                internal=True,
                timeout=gw.router.server_timeout,
                max_parallel=s.router_limit,
                host=s.host,
            )


def endpoints(
    platform: Platform, served: Iterable[Served], slot: str
) -> dict[str, tuple[str, str]]:
    """Each handle's endpoint reference (``<slot>_<port>`` of its first deployment) and the init
    system that manages it."""
    out: dict[str, tuple[str, str]] = {}
    for s in served:
        init = platform.host(s.host).os.init.name
        out.setdefault(s.handle, (f"{slot}_{s.port}", init))
    return out


def replica_problems(served: Iterable[Served]) -> list[str]:
    """Replicas of a handle serve one model: they agree on every field of its identity."""
    problems = []
    first: dict[str, Served] = {}
    for s in served:
        was = first.setdefault(s.handle, s)
        if was is s:
            continue
        theirs = dict(was.identity)
        for field, value in s.identity:
            if value != theirs.get(field):
                problems.append(
                    f"{s.at}.{field}: {value!r} differs from the replica at {was.at} "
                    f"({theirs.get(field)!r}) (rule: a handle served on several hosts serves "
                    "one model: replicas agree on "
                    f"{', '.join(f for f, _ in s.identity)})"
                )
    return problems


def source_problems(
    platform: Platform, host: str, at: str, source: object, path: str, field: str, file: str = ""
) -> list[str]:
    """A model's source and the path its server reads agree: a hub source's files land in the
    host's hub cache (``hf_home``), at the snapshot the path must name; a backroom source is on
    declared backroom storage."""
    from homelab.model.weights import BackroomSource, HubSource

    if isinstance(source, HubSource):
        hf_home = platform.host(host).hf_home
        if hf_home is None:
            return [
                f"{at}.source: {host}.hf_home is missing (rule: a host fetching weights from "
                "the hub states its hub cache, hf_home)"
            ]
        lands = source.snapshot(hf_home) + (f"/{file}" if file else "")
        if path != lands:
            return [
                f"{at}.{field}: {path!r} is not where the hub's files land, {lands!r} (rule: a "
                f"model fetched from the hub is served from its snapshot; leave {field} out)"
            ]
        return []
    if not isinstance(source, BackroomSource):
        return []
    root = platform.storage_of(source.backroom)
    if root is not None and not root.showroom:
        return []
    found = "under no declared storage root" if root is None else f"on showroom {root.name!r}"
    return [
        f"{at}.source.backroom: {source.backroom!r} is {found} (rule: a backroom source lives "
        "on declared backroom storage)"
    ]
