"""What a service module is made of: daemons (one typed description each) and its files.

A :class:`Daemon` renders to a systemd unit on Linux or a launchd plist on macOS; the deploys
install and activate it, and the verify suite checks it, all from the same description. A
:class:`ServiceModule` is one service's home: from the platform it derives the service's
daemons and the files each receives, and it names the deploy that puts them on the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypedDict

from homelab.model.base import LOOPBACK, GitSource, Listener, Role, SecretRef
from homelab.model.common import Layout, Toolchain

if TYPE_CHECKING:
    from homelab.model.platform import Platform
    from homelab.render.files import HostFile


@dataclass(frozen=True)
class Relax:
    """A hardening directive set away from the baseline, and why the service needs it."""

    value: str
    why: str


@dataclass(frozen=True)
class Daemon:
    role: Role
    name: str
    description: str
    user: str
    argv: tuple[str, ...]
    listener: Listener
    health: str
    layout: Layout
    os: str
    toolchain: Toolchain
    enabled: bool = True
    #: The install it runs from (venv, source), shared by daemons of one kind (all MLX servers).
    install: str = ""
    #: Top-level requirements of that virtualenv; the deploy installs their lock.
    requirements: tuple[str, ...] = ()
    source: GitSource | None = None
    #: Non-secret settings: env files rendered from the model, and inline variables.
    env_files: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    #: Secret variables, written on the host into a 0600 env file only this service reads.
    secrets: dict[str, SecretRef] = field(default_factory=dict)
    working_dir: str | None = None
    #: Its main config file, the one a deploy checks before it replaces it.
    config: str | None = None
    supplementary_groups: tuple[str, ...] = ()
    #: Open files it may hold (LimitNOFILE; launchd: NumberOfFiles); None: the init's default.
    open_files: int | None = None
    relax: dict[str, Relax] = field(default_factory=dict)
    #: Loopback-only services that talk to nothing else are fenced at the IP level too.
    loopback_only_traffic: bool = False
    after: tuple[str, ...] = ()
    #: systemd holds its listening socket (a ``.socket`` unit) and passes it in: the socket
    #: outlives the process, so a restart makes requests wait instead of refusing them.
    socket_activated: bool = False
    #: ``systemctl reload`` (SIGHUP) makes it take in ``reload_files`` again: new workers start
    #: on them while the old ones finish their requests, the main process stays.
    reloadable: bool = False
    #: Files whose change a reload takes in: a deploy reloads for them instead of restarting.
    reload_files: tuple[str, ...] = ()
    #: Worker processes a reloadable daemon's master runs (a reload waits for that many old
    #: ones to leave).
    workers: int = 1

    @property
    def install_name(self) -> str:
        return self.install or self.name

    @property
    def state_dir(self) -> str:
        return self.layout.state_dir(self.name)

    @property
    def config_dir(self) -> str:
        return self.layout.config_dir(self.name)

    @property
    def install_dir(self) -> str:
        return self.layout.install_dir(self.install_name)

    @property
    def venv(self) -> str:
        return self.layout.venv(self.install_name)

    @property
    def source_dir(self) -> str:
        return self.layout.source_dir(self.install_name)

    @property
    def secrets_env(self) -> str | None:
        return self.layout.secrets_env(self.name) if self.secrets else None

    @property
    def unit(self) -> str:
        return f"{self.name}.service"

    @property
    def socket_unit(self) -> str:
        return f"{self.name}.socket"

    @property
    def socket_path(self) -> str | None:
        """Its ``.socket`` unit, on systemd hosts when it is socket-activated."""
        if not self.socket_activated or self.os == "darwin":
            return None
        return f"{self.layout.systemd_units}/{self.socket_unit}"

    @property
    def label(self) -> str:
        return f"{self.layout.launchd_prefix}.{self.name}"

    @property
    def unit_path(self) -> str:
        if self.os == "darwin":
            return f"{self.layout.launchd_daemons}/{self.label}.plist"
        return f"{self.layout.systemd_units}/{self.unit}"

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.listener.port}{self.health}"


# Directives that break specific runtimes, said once with the reason.
_WX_MEMORY = Relax("no", "PyTorch/oneDNN and onnxruntime generate code at run time (W+X pages)")
_PROC_ALL = Relax("all", "reads /proc/cpuinfo and /proc/meminfo to size its thread pools")
#: What every Python service relaxes (each says why).
PYTHON_RUNTIME: dict[str, Relax] = {"MemoryDenyWriteExecute": _WX_MEMORY, "ProcSubset": _PROC_ALL}


def serve_on(listener: Listener) -> tuple[str, ...]:
    """``--host BIND --port PORT``, the way every server here takes its listener."""
    return ("--host", listener.bind, "--port", str(listener.port))


class ServiceModule:
    """One service: its daemons and files, derived from the platform, and the deploy of it.

    Subclasses set ``name`` and ``role`` and override what they have. ``deploy`` names the
    service's ``@deploy`` function as ``module:function``: ``deploy_<name>`` in
    ``deploys/<name>.py`` by default. A lab substitute subclasses a service and overrides what
    it does differently, its deploy included.
    """

    name: ClassVar[str]
    role: ClassVar[Role]

    @property
    def deploy(self) -> str | None:
        """Its ``@deploy`` function, ``module:function``; None: nothing to put on a host yet."""
        module = self.name.replace("-", "_")
        return f"deploys.{module}:deploy_{module}"

    def daemons(self, platform: Platform) -> tuple[Daemon, ...]:
        """Every daemon of the service, enabled or not (disabled ones are kept stopped)."""
        return ()

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        """The configuration files one of its daemons runs on (its unit aside)."""
        return []

    def shared_files(self, platform: Platform) -> list[HostFile]:
        """Files of the service that belong to none of its daemons alone (a registry)."""
        return []

    def version_command(self, daemon: Daemon) -> str | None:
        """A shell command printing the version ``daemon`` runs; None: its venv's package's."""
        return None


class HostFields(TypedDict):
    role: Role
    layout: Layout
    os: str
    toolchain: Toolchain


def common(platform: Platform, role: Role) -> HostFields:
    """The fields every daemon of a host shares."""
    h = platform.host(role)
    return HostFields(role=role, layout=h.layout, os=h.os, toolchain=h.toolchain)
