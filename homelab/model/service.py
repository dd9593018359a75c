"""What services contribute to the platform: daemons, their files, the gateway's handles.

A :class:`Daemon` renders to its host's init system (a systemd unit, a launchd plist); the
deploys install and activate it, and the verify suite checks it, all from the same description.
The contract a service fulfils, :class:`~homelab.model.platform.ServiceModule`, is beside the
platform that folds over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homelab.model.base import LOOPBACK, GitSource, Listener, SecretRef
from homelab.model.common import Layout, SystemPackage, Toolchain
from homelab.model.naming import Backend
from homelab.model.system import System


@dataclass(frozen=True)
class HostFile:
    """A file a host receives: where it goes, what it holds, who owns it."""

    path: str
    content: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0644"
    #: Daemons whose restart this file calls for when it changes.
    restarts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relax:
    """A hardening directive set away from the baseline, and why the service needs it."""

    value: str
    why: str


@dataclass(frozen=True)
class Daemon:
    #: The host it runs on, by the inventory's name.
    host: str
    name: str
    description: str
    user: str
    argv: tuple[str, ...]
    listener: Listener
    health: str
    layout: Layout
    system: System
    toolchain: Toolchain
    #: The data's field its listener comes from, for the rules' messages.
    where: str = ""
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
    #: A program the host's package manager installs (Debian's, Homebrew's), not a venv.
    package: SystemPackage | None = None
    #: Secrets it reads from files (name: the secret store's file), handed in by the init
    #: system at start (systemd's LoadCredential) under ``credentials_dir``: a program that
    #: reads a secret from a file, not from its environment, gets one only it can read.
    credentials: dict[str, str] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    #: The init system holds its listening socket (systemd's ``.socket`` unit) and passes it
    #: in: the socket outlives the process, so a restart makes requests wait instead of
    #: refusing them.
    socket_activated: bool = False
    #: It tells the init system when it serves (systemd's ``Type=notify``: its first worker
    #: to finish starting sends ``READY=1``), so a start or restart returns only then.
    notifies_ready: bool = False
    #: A restart of it starts a second instance on its socket first, which serves while the
    #: old process finishes its requests and the new one starts: a request in flight that
    #: calls back through its own port (OptiLLM's) is answered instead of waiting out the
    #: stop. Needs ``socket_activated`` and ``notifies_ready``.
    hands_over: bool = False
    #: ``systemctl reload`` (SIGHUP) makes it take in ``reload_files`` again: new workers start
    #: on them while the old ones finish their requests, the main process stays.
    reloadable: bool = False
    #: Files whose change a reload takes in: a deploy reloads for them instead of restarting.
    reload_files: tuple[str, ...] = ()
    #: Worker processes a reloadable daemon's master runs (a reload waits for that many old
    #: ones to leave); 0: it reads its files again itself, in place, at SIGHUP.
    workers: int = 1
    #: The hosts (by the inventory's name) whose requests its LAN port takes, besides its own:
    #: the others are refused by a packet filter loaded with it (where its system has one).
    #: None: every host of the LAN.
    reached_from: tuple[str, ...] | None = None

    @property
    def fence_path(self) -> str | None:
        """Its packet filter's rules (they refuse its port to hosts outside
        :attr:`reached_from`), or None when it is not fenced."""
        if self.reached_from is None or self.system.firewall is None:
            return None
        return f"{self.config_dir}/fence.nft"

    @property
    def fence_table(self) -> str:
        """The packet filter's table of its own, loaded with it and removed after it stops."""
        return f"homelab-{self.name}"

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
        """The init system's name of it: ``name.service``, or its launchd label."""
        return self.system.init.unit_id(self.layout, self.name)

    @property
    def socket_unit(self) -> str:
        return f"{self.name}.socket"

    @property
    def socket_path(self) -> str | None:
        """Its ``.socket`` unit, where the init system holds sockets and it is socket-activated."""
        return self.socket_unit_path if self.socket_activated else None

    @property
    def socket_unit_path(self) -> str | None:
        """Where a ``.socket`` unit of it is, or would be, where the init system holds sockets:
        one the data no longer has (an earlier deploy's) is closed and removed."""
        if not self.system.init.holds_sockets:
            return None
        return f"{self.system.init.unit_dir(self.layout)}/{self.socket_unit}"

    @property
    def unit_path(self) -> str:
        return self.system.init.unit_path(self.layout, self.name)

    @property
    def handover_unit(self) -> str:
        return self.system.init.unit_id(self.layout, self._handover_name)

    @property
    def handover_path(self) -> str | None:
        """Its handover unit, serving on its socket while it restarts, where it hands over."""
        if not (self.hands_over and self.socket_path and self.notifies_ready):
            return None
        return self.system.init.unit_path(self.layout, self._handover_name)

    @property
    def _handover_name(self) -> str:
        return f"{self.name}-handover"

    @property
    def unit_paths(self) -> tuple[str, ...]:
        """Its own units' files: its unit or plist, and its handover unit if it has one."""
        return (self.unit_path, *((self.handover_path,) if self.handover_path else ()))

    @property
    def credentials_dir(self) -> str:
        """Where it finds its credentials while it runs (systemd's ``$CREDENTIALS_DIRECTORY``)."""
        return f"/run/credentials/{self.unit}"

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.listener.port}{self.health}"


@dataclass(frozen=True)
class Handle:
    """A name the gateway serves to clients, and where in the data it is declared."""

    handle: str
    backend: Backend
    where: str
    #: The host whose server answers it (the gateway's host for handles it serves itself).
    host: str


@dataclass(frozen=True)
class Served:
    """One model one server serves: one deployment of its handle."""

    host: str
    #: The model's entry in the data (``studio.mlx.models[0]``), for the rules' messages.
    at: str
    handle: str
    backend: Backend
    port: int
    #: The model name the server answers to.
    upstream_model: str
    context_length: int
    max_output_tokens: int | None
    #: Fields every replica of the handle must agree on, with their values.
    identity: tuple[tuple[str, object], ...] = ()
    #: Requests the gateway sends it at once (it refuses the rest with 429); None: no limit.
    router_limit: int | None = None
    #: Asked a short request right after its server starts (:class:`Warmup`).
    warm: bool = False


#: A warm-up's profile name where the data marks single models warm (one model per server).
WARM = "warm"


@dataclass(frozen=True)
class Warmup:
    """Models a server loads right after it starts: one short request each, so the first user
    request after a restart does not pay the load. The deploy asks them when the server has
    started since the last warm-up, or when the models asked change (a profile switched), and
    keeps the answer times in :attr:`record`, which verify and ``homelab status`` read."""

    daemon: Daemon
    #: (handle, the model name the server answers to) of each model, in the order asked.
    models: tuple[tuple[str, str], ...]
    #: The profile's name (the OpenVINO server's active profile; :data:`WARM` for a model
    #: marked warm).
    profile: str

    @property
    def record(self) -> str:
        """The last warm-up's JSON record on the host: the server's start it warmed, each
        model's first-answer seconds."""
        return f"{self.daemon.state_dir}/warm-up.json"

    @property
    def id(self) -> str:
        return f"{self.daemon.host}/{self.daemon.name}/{self.profile}"
