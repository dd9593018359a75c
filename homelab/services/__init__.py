"""Every service of the platform, one module each, registered in deploy order.

A service's module holds its options (the typed model the group data fills), its daemons and
the files it renders; ``deploys/<service>.py`` puts them on the host. Renderers, deploys, the
verify suite and the dossier iterate :func:`services`; a platform may carry substitutes for
some of them (the lab does, see ``homelab/lab/substitutes``), which take their place here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homelab.model.base import ROLES, Role
from homelab.services import (
    afm,
    litellm,
    mcp_tools,
    mlx,
    open_webui,
    optillm,
    optillm_local,
    ov_server,
    searxng,
)
from homelab.services.base import Daemon, Relax, ServiceModule

if TYPE_CHECKING:
    from homelab.model.platform import Platform
    from homelab.render.files import HostFile

#: In the order a host deploys them: what a service calls is up before it.
SERVICES: tuple[ServiceModule, ...] = (
    searxng.SERVICE,
    ov_server.SERVICE,
    litellm.SERVICE,
    optillm.SERVICE,
    open_webui.SERVICE,
    mcp_tools.SERVICE,
    mlx.SERVICE,
    optillm_local.SERVICE,
    afm.SERVICE,
)


def services(platform: Platform, role: Role | None = None) -> tuple[ServiceModule, ...]:
    """The platform's services (of one host), each replaced by its substitute where it has one."""
    substitutes = {s.name: s for s in platform.substitutes}
    chosen = tuple(substitutes.get(s.name, s) for s in SERVICES)
    return tuple(s for s in chosen if role is None or s.role == role)


def service_named(platform: Platform, name: str) -> ServiceModule:
    for service in services(platform):
        if service.name == name:
            return service
    raise KeyError(f"the platform has no service named {name!r}")


def daemons(platform: Platform, role: Role) -> tuple[Daemon, ...]:
    """Every daemon of one host, enabled or not (disabled ones are rendered, not started)."""
    return tuple(d for s in services(platform, role) for d in s.daemons(platform))


def enabled_daemons(platform: Platform) -> list[Daemon]:
    """Every daemon the data turns on, both hosts."""
    return [d for role in ROLES for d in daemons(platform, role) if d.enabled]


def daemon_named(platform: Platform, role: Role, name: str) -> Daemon:
    for daemon in daemons(platform, role):
        if daemon.name == name:
            return daemon
    raise KeyError(f"{role} runs no daemon named {name!r}")


def service_of(platform: Platform, daemon: Daemon) -> ServiceModule:
    """The service a daemon belongs to."""
    for service in services(platform, daemon.role):
        if any(d.name == daemon.name for d in service.daemons(platform)):
            return service
    raise KeyError(f"no service of {daemon.role} runs {daemon.name!r}")


def daemon_files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    """A daemon's unit or plist, its socket unit if it has one, then its configuration files."""
    from homelab.render.units import service_file, socket_files

    return [
        service_file(daemon),
        *socket_files(daemon),
        *service_of(platform, daemon).files(platform, daemon),
    ]


def host_files(platform: Platform, role: Role) -> list[HostFile]:
    """Every file a host receives, service by service."""
    out: list[HostFile] = []
    for service in services(platform, role):
        for daemon in service.daemons(platform):
            out += daemon_files(platform, daemon)
        out += service.shared_files(platform)
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
