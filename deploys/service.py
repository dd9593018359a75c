"""One daemon through install, configure and activate: the shape of every service deploy.

A :class:`ServiceDeploy` takes one :class:`~homelab.model.service.Daemon` through the three
stages and collects the operations whose change calls for a restart, so a converged host
restarts nothing (``_if=any_changed(...)``). A :class:`Deployer` puts one service on one host
(its daemons, its shared files); ``deploys/<service>.py`` has each service's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self, TypeVar

from pyinfra.api.operation import OperationMeta

from deploys import takeover
from deploys.accounts import service_account
from deploys.files import Check, guarded_put, put, stage_beside
from deploys.init import activate, activation
from deploys.installs import source_checkout, virtualenv
from deploys.loops import each
from deploys.secret_files import secrets_env
from deploys.state import in_place
from deploys.toolchain import Tools, firewall_package, system_package
from homelab.model import Daemon, HostFile, Platform, ServiceModule
from homelab.render import daemon_files


class ServiceDeploy:
    """One daemon through install, configure and activate (the shape of every service deploy).

    ``shared`` are changes made once for several daemons (a venv they share): each of them
    restarts when one of those changed. Files a service can check before it runs on them
    (its unit, and whatever :meth:`check` names) are replaced only once the check accepts them.
    """

    def __init__(
        self,
        platform: Platform,
        service: ServiceModule[Any],
        daemon: Daemon,
        tools: Tools,
        shared: list[OperationMeta] | None = None,
    ) -> None:
        self.platform = platform
        self.service = service
        self.daemon = daemon
        self.tools = tools
        self.changes: list[OperationMeta] = list(shared or [])
        #: Changes a reload takes in (a reloadable daemon's config): no restart for them.
        self.reloads: list[OperationMeta] = []
        self.unit: OperationMeta | None = None
        self.socket: OperationMeta | None = None
        self.handover: OperationMeta | None = None
        self.staging = f"{daemon.layout.state}/.staging/{daemon.name}"

    @classmethod
    def of(cls, platform: Platform, service: ServiceModule[Any], host: str, tools: Tools) -> Self:
        """The deploy of a service that runs one daemon on ``host``."""
        (daemon,) = service.daemons(platform, host)
        return cls(platform, service, daemon, tools)

    def install(self) -> None:
        if not self.daemon.enabled:
            return  # rendered and kept stopped; nothing to install until the data enables it
        self.changes += service_account(self.daemon)
        self.changes += source_checkout(self.daemon)
        self.changes += virtualenv(self.daemon, self.tools)
        self.changes += system_package(self.daemon)
        self.changes += firewall_package(self.daemon)

    def configure(self) -> None:
        d = self.daemon
        unit_file, *rest = daemon_files(self.platform, d)
        sockets = [f for f in rest if f.path == d.socket_path]
        handovers = [f for f in rest if f.path == d.handover_path]
        config = [f for f in rest if f not in sockets and f not in handovers]
        if d.enabled:
            # Secrets first: a config check may need the variables they hold.
            written = secrets_env(d)
            reloads = d.reloadable and d.secrets_env in d.reload_files
            (self.reloads if reloads else self.changes).extend(written)
            # Unchecked files (env files a check reads) go first, checked ones after them.
            for f in sorted(config, key=lambda f: self.check(f) is not None):
                op = self.place(f)
                if op is None or d.name not in f.restarts:
                    continue  # in place, or read by others (handles.jsonl): no restart for it
                reloads = d.reloadable and f.path in d.reload_files
                (self.reloads if reloads else self.changes).append(op)
            # systemd-analyze loads a unit's neighbours from the candidate's folder: the socket
            # waits there while its service is checked (a new host has neither yet), and is
            # checked itself once the service is in place.
            if sockets and not all(in_place(f.path, f.content) for f in [unit_file, *handovers]):
                stage_beside(sockets, self.staging)
            self.unit = guarded_put(unit_file, activation(d).unit_check, self.staging)
            for f in handovers:
                self.handover = guarded_put(f, activation(d).unit_check, self.staging)
            for f in sockets:
                self.socket = guarded_put(f, activation(d).unit_check, self.staging)
        else:
            for f in sockets:
                self.socket = put(f)
            for f in handovers:
                self.handover = put(f)
            self.unit = put(unit_file)

    def check(self, f: HostFile) -> Check | None:
        """The command that accepts or refuses a candidate of ``f``; None: not checkable."""
        return None

    def place(self, f: HostFile) -> OperationMeta | None:
        """Place one config file, through its check when it has one."""
        check = self.check(f)
        if check is None:
            return put(f)
        return guarded_put(f, check, self.staging)

    def unit_changed(self) -> bool:
        """Its unit changed, or its handover unit (the same process: a restart takes it in)."""
        return any(op is not None and op.did_change() for op in (self.unit, self.handover))

    def socket_changed(self) -> bool:
        return self.socket is not None and self.socket.did_change()

    def activate(self) -> None:
        activate(self.daemon, self.unit_changed, self.changes, self.socket_changed, self.reloads)

    def take_over(self) -> None:
        """Just before the daemon starts: the legacy units it replaces out of its way."""
        takeover.stop_legacy(self.platform, self.daemon)

    def run(self) -> None:
        self.install()
        self.run_configured()

    def run_configured(self) -> None:
        """Configure and activate a daemon whose install was shared and is already done."""
        takeover.save_aside(self.platform, self.daemon)
        self.configure()
        self.take_over()
        self.activate()


class Deployer:
    """How one service goes onto one host: by default, each of its daemons through
    :class:`ServiceDeploy`, then its shared files. A service's deploy subclasses it."""

    #: The deploy's name in pyinfra's output.
    title: ClassVar[str] = "service"
    #: The per-daemon deploy it runs.
    daemon_deploy: ClassVar[type[ServiceDeploy]] = ServiceDeploy

    def __init__(self, service: ServiceModule[Any]) -> None:
        self.service = service

    def run(self, platform: Platform, host: str, tools: Tools) -> None:
        for daemon in each(self.service.daemons(platform, host)):
            self.daemon_deploy(platform, self.service, daemon, tools).run()
        for f in self.service.shared_files(platform, host):
            put(f)

    def start_checks(self, platform: Platform, host: str, tools: Tools) -> None:
        """Start, in the background, the slow checks of files this deploy will place (read by
        their guards): before any service deploys, so they run while the services do."""

    def refuse(self, platform: Platform, host: str) -> None:
        """Stop the host's run while it plans, before anything changes, when the data asks
        for what the host cannot hold (raises PyinfraError)."""

    def absent(self, platform: Platform, host: str) -> None:
        """The host's data places the service no more: remove what its units' pruning does
        not (files and accounts of its own)."""

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        """More paths of the host this deploy consults (the snapshot asks them at once)."""
        return ()

    def snapshot_users(self, platform: Platform, host: str) -> tuple[str, ...]:
        """Accounts this deploy consults besides its daemons' users."""
        return ()


class SharedInstall(Deployer):
    """A service whose daemons share one install (account and venv), built once."""

    def run(self, platform: Platform, host: str, tools: Tools) -> None:
        h = platform.host(host)
        instances = self.service.daemons(platform, host)
        enabled = [d for d in instances if d.enabled]
        shared: list[OperationMeta] = []
        if enabled:
            shared += service_account(enabled[0], home=h.layout.state)
            shared += virtualenv(enabled[0], tools)
        for daemon in each(instances):
            ServiceDeploy(platform, self.service, daemon, tools, shared=shared).run_configured()


#: Each service module's kind, and the deployer that puts it on a host.
_DEPLOYERS: dict[type[ServiceModule[Any]], type[Deployer]] = {}

D = TypeVar("D", bound=type[Deployer])


def deploys(kind: type[ServiceModule[Any]]) -> Callable[[D], D]:
    """Register the decorated deployer as the one of ``kind`` (and of its subclasses that
    register none of their own: a lab substitute may)."""

    def register(deployer: D) -> D:
        _DEPLOYERS[kind] = deployer
        return deployer

    return register


def deployer_for(service: ServiceModule[Any]) -> Deployer:
    """The deployer of ``service``: its own kind's, else the nearest base kind's."""
    for kind in type(service).__mro__:
        found = _DEPLOYERS.get(kind)
        if found is not None:
            return found(service)
    raise LookupError(f"no deploy is registered for the service {service.name!r}")
