"""Building blocks every service deploy uses: install, configure, activate.

A :class:`ServiceDeploy` takes one :class:`~homelab.services.base.Daemon` through the three stages
and collects the operations whose change calls for a restart, so a converged host restarts
nothing (``_if=any_changed(...)``).
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any, Self

from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.git import GitLocalCommit
from pyinfra.facts.launchd import LaunchdStatus
from pyinfra.operations import files, launchd, server, systemd
from pyinfra.operations.util import any_changed

from deploys import takeover
from deploys.state import current, directory, exists, in_place, link_target, running
from deploys.toolchain import Tools
from homelab.locks import Lock, lock_for
from homelab.model import Platform
from homelab.model.base import SecretRef
from homelab.model.common import Layout
from homelab.render import HostFile, daemon_files
from homelab.secrets import env_writer, names_of
from homelab.secrets import secret_names as secret_names
from homelab.services import Daemon, ServiceModule


def put(f: HostFile, **kwargs: Any) -> OperationMeta | None:
    """Place one rendered file with its owner and mode; None when the host has it already."""
    if current().holds(f):
        return None
    return files.put(
        name=f"Place {f.path}",
        src=StringIO(f.content),
        dest=f.path,
        user=f.owner,
        group=f.group,
        mode=f.mode,
        **kwargs,
    )


#: A check command for a candidate file; ``{path}`` is where the candidate was placed.
Check = str


def guarded_put(f: HostFile, check: Check, staging: str) -> OperationMeta | None:
    """Replace a live file only with a candidate its service accepts.

    When the live file differs from the rendered one, the candidate goes to ``staging``, the
    check runs on it, and only then is it installed in place. A refused candidate stops the
    host's deploy there: the live file, and the service running on it, stay as they were.
    Returns None when the live file is already the rendered one (nothing to check, no op).
    """
    if in_place(f.path, f.content):
        return None
    q = shlex.quote
    candidate = f"{staging}/{posixpath.basename(f.path)}"
    files.directory(name=f"Staging {staging}", path=staging, mode="0700")
    files.put(name=f"Candidate {f.path}", src=StringIO(f.content), dest=candidate, mode="0600")
    return server.shell(
        name=f"Check the candidate {f.path}, then put it in place",
        commands=[
            f"{check.replace('{path}', q(candidate))} "
            f"|| {{ echo 'refused: {f.path} stays as it was' >&2; rm -f {q(candidate)}; exit 1; }}",
            f"mkdir -p {q(posixpath.dirname(f.path))}",
            f"install -o {q(f.owner)} -g {q(f.group)} -m {f.mode} {q(candidate)} {q(f.path)}",
            f"rm -f {q(candidate)}",
        ],
    )


def stage_beside(neighbours: list[HostFile], staging: str) -> None:
    """Candidates ``neighbours`` in ``staging``, for a check that loads them with another."""
    files.directory(name=f"Staging {staging}", path=staging, mode="0700")
    for f in neighbours:
        files.put(
            name=f"Candidate {f.path} (beside the unit it goes with)",
            src=StringIO(f.content),
            dest=f"{staging}/{posixpath.basename(f.path)}",
            mode="0600",
        )


def unit_check(os: str) -> Check:
    """The init system's own parser on a unit: systemd-analyze, or plutil for a plist.

    ``systemd-analyze verify`` exits 0 on a directive it cannot parse (it logs "ignoring"
    and drops it); any line naming the candidate counts as a refusal here.
    """
    if os == "darwin":
        return "plutil -lint {path}"
    return (
        "out=$(systemd-analyze verify {path} 2>&1); rc=$?; printf '%s\\n' \"$out\" >&2; "
        "[ $rc -eq 0 ] && ! printf '%s' \"$out\" | grep -qF {path}"
    )


def service_account(daemon: Daemon, home: str | None = None) -> list[OperationMeta]:
    """A system user and group of its own, its home the service's state directory."""
    if daemon.os == "darwin":
        return []  # the Studio's daemons run as the account the data names; it exists
    home = home or daemon.state_dir
    ops = system_user(daemon.user, home, daemon.supplementary_groups)
    return running([*ops, directory(daemon.state_dir, daemon.user, daemon.user, "0750")])


#: The shell of every service account: none to log in with.
NOLOGIN = "/usr/sbin/nologin"


def system_user(user: str, home: str, groups: tuple[str, ...] = ()) -> list[OperationMeta]:
    """A Linux system user with a group of its own and no login shell (none planned when the
    host's snapshot shows it so)."""
    state = current()
    ops: list[OperationMeta] = []
    if user not in state.groups:
        ops.append(server.group(name=f"Group {user}", group=user, system=True))
    account = state.accounts.get(user)
    if not (
        account is not None
        and account.group == user
        and set(groups) <= account.groups
        and account.home == home
        and account.shell == NOLOGIN
    ):
        ops.append(
            server.user(
                name=f"User {user}",
                user=user,
                group=user,
                groups=list(groups) or None,
                home=home,
                shell=NOLOGIN,
                system=True,
                ensure_home=False,
            )
        )
    return ops


def source_checkout(daemon: Daemon) -> list[OperationMeta]:
    """The component's code at its pinned reference, for services no registry carries."""
    source = daemon.source
    if source is None:
        return []
    dest = daemon.source_dir
    head = host.get_fact(GitLocalCommit, repo=dest)
    wanted = host.get_fact(GitLocalCommit, repo=dest, ref=f"{source.ref}^{{commit}}")
    if head is not None and head == wanted:
        return []
    q = shlex.quote
    return [
        server.shell(
            name=f"Check out {source.url} at {source.ref}",
            commands=[
                f"test -d {dest}/.git || git clone --no-checkout {q(source.url)} {dest}",
                f"git -C {dest} fetch --tags origin {q(source.ref)}",
                f"git -C {dest} checkout --detach {q(source.ref)}",
            ],
        )
    ]


#: How a venv is built from its lock: ``uv`` and these arguments. Part of the venv's name, so
#: a change here builds anew. Bytecode is compiled at install because the venv is read-only to
#: its service (ProtectSystem): otherwise every start recompiles every module it imports, in
#: memory, and a restart after a crash takes seconds longer.
VENV_RECIPE = ("pip", "sync", "--compile-bytecode")


def venv_target(daemon: Daemon) -> str:
    """The venv a daemon's lock (and the recipe) names: ``<opt>/<install>/venvs/<hash>``."""
    return locked_venv_target(lock_for(daemon), daemon.install_dir)


def locked_venv_target(lock: Lock, install_dir: str, package: Path | None = None) -> str:
    """``<install_dir>/venvs/<hash>``: the hash of the recipe, the lock and the package."""
    text = lock.path.read_text()
    recipe = " ".join(("uv", *VENV_RECIPE))
    extra = f"\n{hashlib.sha256(package.read_bytes()).hexdigest()}" if package else ""
    digest = hashlib.sha256(f"{recipe}\n{text}{extra}".encode()).hexdigest()[:16]
    return f"{install_dir}/venvs/{digest}"


def virtualenv(daemon: Daemon, tools: Tools) -> list[OperationMeta]:
    """The locked requirements, installed blue/green: a new venv beside the old, then a switch.

    The venv is named by its lock's hash and built completely before the ``venv`` link moves
    to it, so a failed install leaves the running service on the venv it had.
    """
    if not daemon.requirements:
        return []
    return locked_venv(lock_for(daemon), daemon.install_dir, daemon.venv, tools)


def locked_venv(
    lock: Lock, install_dir: str, venv: str, tools: Tools, package: Path | None = None
) -> list[OperationMeta]:
    """A lock installed blue/green into ``<install_dir>/venvs/<hash>``, ``venv`` linked to it.

    ``package``, a wheel, goes in after the lock with ``--no-deps`` (the lock holds its
    dependencies); its hash is part of the venv's name, so a changed package builds anew.
    """
    text = lock.path.read_text()
    target = locked_venv_target(lock, install_dir, package)
    root, digest = target.rsplit("/venvs/", 1)
    if link_target(venv) == target:
        return []
    ops: list[OperationMeta] = []
    if not exists(f"{target}/.complete"):
        ops.append(
            files.put(
                name=f"Lock {lock.path.name}",
                src=StringIO(text),
                dest=f"{target}.requirements.txt",
                mode="0644",
            )
        )
        install_package: list[str] = []
        if package is not None:
            wheel = f"{root}/venvs/{package.name}"
            ops.append(files.put(name=f"Package {package.name}", src=str(package), dest=wheel))
            install_package = [
                f"{tools.uv_env} {tools.uv} pip install --no-deps --no-index --compile-bytecode "
                f"--python {target}/bin/python {wheel}",
                f"rm -f {wheel}",
            ]
        ops.append(
            server.shell(
                name=f"Install {lock.path.name} into {target}",
                commands=[
                    f"rm -rf {target}",
                    f"{tools.uv_env} {tools.uv} venv --python {tools.python} {target}",
                    f"{tools.uv_env} {tools.uv} {' '.join(VENV_RECIPE)} "
                    f"--python {target}/bin/python "
                    f"{tools.find_links_args} {target}.requirements.txt",
                    *install_package,
                    f"touch {target}/.complete",
                ],
            )
        )
    ops.append(
        files.link(
            name=f"Switch {venv} to {digest}",
            path=venv,
            target=target,
            force=True,
            force_backup=False,
        )
    )
    ops.append(
        server.shell(
            name=f"Keep the two newest venvs of {root}",
            commands=[
                f"cd {root}/venvs && ls -1t | grep -v -e '^{digest}' | "
                "grep -v '.requirements.txt$' | tail -n +2 | xargs -r rm -rf",
            ],
        )
    )
    return ops


def secrets(daemon: Daemon) -> list[OperationMeta]:
    """The service's 0600 env file of secrets, written on the host from the host's secret store.

    Values never leave the host: the store is filled there (see ``deploys/host.py``) and a shell
    on the host copies each value into the env files of the services that use it
    (``homelab.secrets.write_env``, which ``homelab rotate`` and ``restore`` use too).
    """
    if not daemon.secrets_env:
        return []
    group = "wheel" if daemon.os == "darwin" else daemon.user
    return secrets_file(
        daemon.secrets_env, daemon.secrets, daemon.layout, daemon.user, group, daemon.os
    )


def secrets_file(
    env: str, refs: dict[str, SecretRef], layout: Layout, user: str, group: str, os: str
) -> list[OperationMeta]:
    """A 0600 env file of ``user``'s alone: each variable's value copied from the host's store.

    Values never leave the host: the store is filled there (see ``deploys/host.py``) and a shell
    on the host copies each value into the file. Written when its names change or it is missing.
    """
    names = HostFile(
        path=f"{env}.names",
        content=names_of(refs),
        group="wheel" if os == "darwin" else "root",
        mode="0600",
    )
    spec_op = put(names)
    present = exists(env)
    if spec_op is None and present:
        return []  # the names are as they were and the file is there: nothing to write
    # Planned but maybe unchanged (the snapshot did not look at it): written only on a change.
    extra: dict[str, Any] = {"_if": spec_op.did_change} if spec_op is not None and present else {}
    command = env_writer(env, refs, layout, user, group)
    write = server.shell(name=f"Write {env}", commands=[command], **extra)
    return running([spec_op, write])


Changed = Callable[[], bool]


def activate(
    daemon: Daemon,
    unit: Changed,
    changes: list[OperationMeta],
    socket: Changed | None = None,
    reloads: list[OperationMeta] | None = None,
) -> None:
    """Start the daemon (or keep it stopped when disabled); restart only on a change.

    ``unit`` says whether the unit file changed, ``socket`` whether its socket unit did;
    ``changes`` are the operations whose change calls for a restart, ``reloads`` those a
    reload takes in (a reloadable daemon's config). A socket-activated daemon restarts behind
    its socket: requests wait for the new process instead of failing.
    """
    if daemon.os == "darwin":
        _activate_launchd(daemon, unit, [*changes, *(reloads or [])])
    else:
        _activate_systemd(daemon, unit, changes, socket or _never, reloads or [])


def _activate_systemd(
    daemon: Daemon,
    unit: Changed,
    changes: list[OperationMeta],
    socket: Changed,
    reloads: list[OperationMeta],
) -> None:
    systemd.daemon_reload(name="Reload systemd units", _if=lambda: unit() or socket())
    if not daemon.enabled:
        _keep_stopped(daemon.unit, "stopped")
        if daemon.socket_path:
            _keep_stopped(daemon.socket_unit, "closed")
        return
    if daemon.socket_path:
        # A new or changed socket takes the port over: the process holding it stops first.
        server.shell(
            name=f"Hand port {daemon.listener.port} to {daemon.socket_unit} (its unit changed)",
            commands=[
                f"if systemctl is-active -q {daemon.unit}; then systemctl stop {daemon.unit}; fi",
                f"systemctl restart {daemon.socket_unit}",
            ],
            _if=socket,
        )
        if not current().running_and_enabled(daemon.socket_unit):
            systemd.service(
                name=f"{daemon.socket_unit} listening and enabled at boot",
                service=daemon.socket_unit,
                running=True,
                enabled=True,
            )

    def restart_needed() -> bool:
        return unit() or socket() or any_changed(*changes)()

    restart = systemd.service(
        name=f"Restart {daemon.unit} (its files changed)",
        service=daemon.unit,
        running=True,
        restarted=True,
        _if=restart_needed,
    )
    started: list[OperationMeta] = [restart]
    if reloads and current().active(daemon.unit):
        # New workers read the new config while the old ones finish what they have: a
        # request in flight that calls back through this daemon (OptiLLM's) is answered by
        # the new ones, where a restart would stop the old process before any new one runs.
        started.append(
            systemd.service(
                name=f"Reload {daemon.unit} (its config changed)",
                service=daemon.unit,
                running=True,
                reloaded=True,
                _if=lambda: any_changed(*reloads)() and not restart_needed(),
            )
        )
    if not current().running_and_enabled(daemon.unit):
        started.append(
            systemd.service(
                name=f"{daemon.unit} running and enabled at boot",
                service=daemon.unit,
                running=True,
                enabled=True,
            )
        )
    to_wait_for(daemon, any_changed(*started))


def _keep_stopped(unit: str, state: str) -> None:
    """A unit the data switched off: stopped and disabled (no facts asked when the snapshot
    shows it so already)."""
    if current().stopped_and_disabled(unit):
        return
    systemd.service(
        name=f"Keep {unit} {state} (disabled in the data)",
        service=unit,
        running=False,
        enabled=False,
    )


def _activate_launchd(daemon: Daemon, unit: Changed, changes: list[OperationMeta]) -> None:
    # pyinfra's launchd.service only starts and stops: loading a plist is launchctl's
    # bootstrap, and a changed plist is read again only after bootout + bootstrap.
    target = f"system/{daemon.label}"
    loaded = daemon.label in host.get_fact(LaunchdStatus)
    if not daemon.enabled:
        if loaded:  # switched off in the data: stopped and unloaded, its plist stays
            server.shell(
                name=f"Unload {daemon.label} (disabled in the data)",
                commands=[f"launchctl bootout {target}"],
            )
        return
    server.shell(
        name=f"Load {daemon.label} again (its plist changed)",
        commands=[
            f"launchctl bootout {target} 2>/dev/null || true",
            # Disabled by the way back to a legacy job (homelab way-back): enabled again.
            f"launchctl enable {target}",
            f"launchctl bootstrap system {daemon.unit_path}",
        ],
        _if=unit if loaded else _always,
    )
    server.shell(
        name=f"Restart {daemon.label} (its files changed)",
        commands=[f"launchctl kickstart -k {target}"],
        _if=lambda: any_changed(*changes)() and not unit(),
    )
    start = launchd.service(name=f"{daemon.label} running", service=daemon.label, running=True)
    to_wait_for(daemon, lambda: unit() or any_changed(*changes)() or start.did_change())


#: Seconds a (re)started daemon has to answer its health endpoint (Open WebUI takes the most).
HEALTH_WAIT = 300


def health_wait(daemon: Daemon) -> str:
    """Shell: wait until the daemon answers its health endpoint (fails after HEALTH_WAIT)."""
    return (
        f"curl -fsS -o /dev/null --max-time 5 --retry {HEALTH_WAIT // 2} --retry-delay 2 "
        f"--retry-all-errors {shlex.quote(daemon.health_url)}"
    )


#: Per host: the daemons its deploy may start, restart or reload, each with whether it did.
_STARTED: dict[str, list[tuple[Daemon, Changed]]] = {}


def to_wait_for(daemon: Daemon, condition: Changed) -> None:
    """Remember a daemon this deploy may (re)start; :func:`wait_started` waits for it."""
    _STARTED.setdefault(host.name, []).append((daemon, condition))


def wait_started() -> OperationMeta | None:
    """At the end of a host's deploy, wait until every daemon it (re)started answers.

    One operation at one call site for both hosts: pyinfra runs one operation after another,
    each on every host at once, so a wait inside each service's deploy held the Studio's new
    server behind the Mini's OptiLLM (and every start behind the one before). Now each start
    goes on while the next service deploys, and both hosts wait here together. A daemon that
    does not answer fails its host's deploy here, before anything is pruned.
    """
    pending = _STARTED.pop(host.name, [])
    if not pending:
        return None
    return server.shell(
        name="Wait for the daemons it started to answer",
        commands=[" && ".join(health_wait(d) for d, _ in pending)],
        _if=lambda: any(changed() for _, changed in pending),
    )


def _always() -> bool:
    return True


def _never() -> bool:
    return False


class ServiceDeploy:
    """One daemon through install, configure and activate (the shape of every service deploy).

    ``shared`` are changes made once for several daemons (a venv they share): each of them
    restarts when one of those changed. Files a service can check before it runs on them
    (its unit, and whatever :meth:`check` names) are replaced only once the check accepts them.
    """

    def __init__(
        self,
        platform: Platform,
        service: ServiceModule,
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
        self.staging = f"{daemon.layout.state}/.staging/{daemon.name}"

    @classmethod
    def of(cls, platform: Platform, service: ServiceModule, tools: Tools) -> Self:
        """The deploy of a service that runs one daemon."""
        (daemon,) = service.daemons(platform)
        return cls(platform, service, daemon, tools)

    def install(self) -> None:
        if not self.daemon.enabled:
            return  # rendered and kept stopped; nothing to install until the data enables it
        self.changes += service_account(self.daemon)
        self.changes += source_checkout(self.daemon)
        self.changes += virtualenv(self.daemon, self.tools)

    def configure(self) -> None:
        d = self.daemon
        unit_file, *rest = daemon_files(self.platform, d)
        sockets = [f for f in rest if f.path == d.socket_path]
        config = [f for f in rest if f.path != d.socket_path]
        if d.enabled:
            # Secrets first: a config check may need the variables they hold.
            written = secrets(d)
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
            if sockets and not in_place(unit_file.path, unit_file.content):
                stage_beside(sockets, self.staging)
            self.unit = guarded_put(unit_file, unit_check(d.os), self.staging)
            for f in sockets:
                self.socket = guarded_put(f, unit_check(d.os), self.staging)
        else:
            for f in sockets:
                self.socket = put(f)
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
        return self.unit is not None and self.unit.did_change()

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
