"""What the checks are parametrised by, read from the model at collection: nothing here
contacts a host. Each value says what a failure names (its ``id``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from homelab.model import Platform
from homelab.model.naming import ROUTER_PREFIX
from homelab.services import Daemon, mcp_tools
from homelab.services.mcp_tools import McpTool
from homelab.services.optillm import proxy_url
from verify.probes import lan_url


def daemon_id(daemon: Daemon) -> str:
    return f"{daemon.host}/{daemon.name}"


@dataclass(frozen=True)
class Reach:
    """A daemon's port as one other host of the platform tries it."""

    daemon: Daemon
    #: The host the request is made from.
    seen_from: str
    url: str

    @property
    def id(self) -> str:
        return f"{daemon_id(self.daemon)}-from-{self.seen_from}"

    @property
    def allowed(self) -> bool:
        """Whether the daemon takes this host's requests: no fence, or a host it is reached
        from."""
        d = self.daemon
        return d.fence_path is None or d.reached_from is None or self.seen_from in d.reached_from


def reaches(platform: Platform, daemons: Iterable[Daemon]) -> list[Reach]:
    """Each daemon as every host but its own reaches it, in the hosts' order."""
    return [
        Reach(d, other, lan_url(platform, d))
        for d in daemons
        for other in platform.hosts
        if other != d.host
    ]


def family_handles(platform: Platform) -> dict[str, str]:
    """One client handle per backend family (the first the routes give), by family."""
    families: dict[str, str] = {}
    for r in platform.routes():
        if not r.internal:
            families.setdefault(r.backend.value, r.handle)
    return families


@dataclass(frozen=True)
class ServedHandle:
    """A handle served one model per port (MLX, llama.cpp) and the servers behind it (one per
    host serving a replica)."""

    handle: str
    servers: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.handle


def served_handles(platform: Platform) -> list[ServedHandle]:
    """Each handle served one model per port, with the servers behind it, so a failure names
    them."""
    servers: dict[str, list[str]] = {}
    for s in platform.served():
        servers.setdefault(s.handle, []).append(f"{s.host}/{platform.server_of(s).name}")
    return [ServedHandle(handle, tuple(where)) for handle, where in servers.items()]


@dataclass(frozen=True)
class ToolOn:
    """One MCP tool on one host whose data places it."""

    host: str
    tool: McpTool

    @property
    def id(self) -> str:
        return f"{self.host}/{self.tool.name}"


def tools_placed(platform: Platform) -> list[ToolOn]:
    """Every MCP tool of every host that runs MCP tools."""
    return [ToolOn(host, t) for host, on in mcp_tools.SERVICE.placed(platform) for t in on.tools]


@dataclass(frozen=True)
class Deployment:
    """One deployment of a handle served on several hosts, as the gateway reaches it."""

    handle: str
    url: str

    @property
    def id(self) -> str:
        return f"{self.handle}@{self.url.split('//', 1)[-1].split('/', 1)[0]}"


def streaming_aliases(platform: Platform) -> list[str]:
    """Aliases straight to servers that stream as they generate (every handle behind them
    served one model per port): their answers must arrive in more than one chunk."""
    per_port = {s.handle for s in platform.served()}
    return [
        a.name
        for a in platform.gateway.aliases
        if not a.through_optillm and set(a.handles) <= per_port
    ]


def replica_deployments(platform: Platform) -> list[Deployment]:
    """Every deployment of each handle with more than one (the gateway's direct routes)."""
    optillm = proxy_url(platform)  # the detour handles share, not a deployment
    by_handle: dict[str, list[str]] = {}
    for route in platform.routes():
        if route.alias_of is None:
            name = route.handle.removeprefix(ROUTER_PREFIX) if route.internal else route.handle
            found = by_handle.setdefault(name, [])
            if route.api_base not in found and route.api_base != optillm:
                found.append(route.api_base)
    return [
        Deployment(handle, url)
        for handle, urls in by_handle.items()
        if len(urls) > 1
        for url in urls
    ]
