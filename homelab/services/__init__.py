"""Every service of the platform, one module each, registered in deploy order.

A service's module holds its options (the typed model a host's data fills under its key), what
it contributes (daemons, files, gateway routes and handles) and its rules; ``deploys/<service>.py``
puts it on a host. The platform folds over the registered modules; a platform may carry
substitutes for some of them (the lab does, see ``homelab/lab/substitutes``), which take their
place there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homelab.model.platform import ServiceModule
from homelab.model.registry import register
from homelab.model.service import Daemon, HostFile, Relax
from homelab.services import (
    afm,
    hub_mirror,
    litellm,
    llama_cpp,
    mcp_tools,
    mlx,
    monitoring,
    node_exporter,
    open_webui,
    optillm,
    optillm_local,
    ov_server,
    searxng,
)

if TYPE_CHECKING:
    from homelab.model.platform import Platform

#: In the order a host deploys them. The model servers come first: a new one loads its model
#: while the rest deploys. The gateway comes last: its candidate config is checked by LiteLLM's
#: own loader (seconds of importing its proxy), and what restarts before that check (OptiLLM
#: for a new MLX model, Prometheus for new targets) comes up meanwhile. Nothing in a deploy
#: calls another service: each starts what changed without waiting, systemd's ordering holds
#: at boot, and the deploy waits for every daemon it started at the end.
SERVICES: tuple[ServiceModule[Any], ...] = (
    searxng.SERVICE,
    ov_server.SERVICE,
    mlx.SERVICE,
    llama_cpp.SERVICE,
    optillm.SERVICE,
    open_webui.SERVICE,
    mcp_tools.SERVICE,
    optillm_local.SERVICE,
    afm.SERVICE,
    # The lab seeds its repositories with the MLX servers' venv.
    hub_mirror.SERVICE,
    node_exporter.SERVICE,
    monitoring.SERVICE,
    litellm.SERVICE,
)
register(*SERVICES)


def services(platform: Platform, host: str | None = None) -> tuple[ServiceModule[Any], ...]:
    """The platform's services (those ``host`` runs), each replaced by its substitute."""
    return platform.modules(host)


def service_named(platform: Platform, name: str) -> ServiceModule[Any]:
    return platform.module(name)


def daemons(platform: Platform, host: str) -> tuple[Daemon, ...]:
    """Every daemon of one host, enabled or not (disabled ones are rendered, not started)."""
    return platform.daemons(host)


def enabled_daemons(platform: Platform) -> list[Daemon]:
    """Every daemon the data turns on, every host."""
    return platform.enabled_daemons()


def daemon_named(platform: Platform, host: str, name: str) -> Daemon:
    return platform.daemon(host, name)


def service_of(platform: Platform, daemon: Daemon) -> ServiceModule[Any]:
    """The service a daemon belongs to."""
    return platform.service_of(daemon)


def daemon_files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    """A daemon's unit or plist, its socket unit if it has one, its fence if it has one, then
    its configuration files."""
    from homelab.render.fence import fence_file
    from homelab.render.units import service_file, socket_files

    fence = fence_file(platform, daemon)
    return [
        service_file(daemon),
        *socket_files(daemon),
        *([fence] if fence is not None else []),
        *platform.service_of(daemon).files(platform, daemon),
    ]


def host_files(platform: Platform, host: str) -> list[HostFile]:
    """Every file a host receives, service by service."""
    out: list[HostFile] = []
    for service in platform.modules(host):
        for daemon in service.daemons(platform, host):
            out += daemon_files(platform, daemon)
        out += service.shared_files(platform, host)
    return out


__all__ = [
    "SERVICES",
    "Daemon",
    "Relax",
    "ServiceModule",
    "daemon_files",
    "daemon_named",
    "daemons",
    "enabled_daemons",
    "host_files",
    "service_named",
    "service_of",
    "services",
]
