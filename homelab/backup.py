"""Open WebUI's data, backed up and restored on demand: ``homelab backup`` / ``homelab restore``.
Alertmanager's silences (what the operator muted, until when, and why) go with each copy,
exported with ``amtool`` to ``<id>.silences.json`` under its host, and are set again by a
restore (those not yet expired).

Where the copies live on the host and how many stay there come from the model
(``Layout.backup_dir``, ``OpenWebUI.backups``); the deploy makes the same copies before a change
(``deploys/open_webui.py``). A copy kept only on the host is lost with the host, so ``backup``
also fetches it to the operator's machine, under ``backups/<host>/`` beside the inventory it was
made through; ``restore`` sends such a copy back.

The work on the host is done by :mod:`homelab.backup_host`, sent as the host's Python's program
(standard library only): SQLite's online backup API, never a file copy of a live database. The
host is reached the way pyinfra reaches it for the inventory (:mod:`homelab.console.connect`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homelab import backup_host
from homelab.backup_host import SUFFIX, ids_in, sha256
from homelab.console.connect import Remote, Result, Unreachable, connected
from homelab.model import Platform
from homelab.services import Daemon, daemon_named
from homelab.services.monitoring import MONITORING
from homelab.services.open_webui import SERVICE as OPEN_WEBUI
from homelab.services.open_webui import Backups, OpenWebUI

HOST_SCRIPT = Path(backup_host.__file__)
#: The service whose data this is (on whichever host the data places it).
SERVICE = OPEN_WEBUI.name


class BackupFailed(Exception):
    """A backup or restore that did not happen; the message says what to do."""


@dataclass(frozen=True)
class DataPlan:
    """Everything the host side needs, derived from the model: paths, owner, unit, retention."""

    daemon: Daemon
    backups: Backups
    python: str
    admin_email: str
    admin_password_file: str

    @property
    def data(self) -> str:
        return self.daemon.state_dir

    @property
    def dest(self) -> str:
        return self.daemon.layout.backup_dir(self.daemon.name)

    @property
    def database(self) -> str:
        return f"{self.data}/{self.backups.database}"

    @property
    def script(self) -> str:
        """Where the deploy places :mod:`homelab.backup_host` on the host."""
        return f"{self.daemon.layout.opt}/{self.daemon.name}/backup_host.py"

    @property
    def legacy_dest(self) -> str:
        """Where the copy of a hand-built setup's data is kept: apart, never pruned by the
        copies the deploys make."""
        return f"{self.dest}/legacy"

    def _common(self, data: str | None = None, dest: str | None = None) -> list[str]:
        args = ["--data", data or self.data, "--dest", dest or self.dest]
        args += ["--database", self.backups.database]
        for folder in self.backups.folders:
            args += ["--folder", folder]
        return [*args, "--keep", str(self.backups.keep)]

    def backup_args(self, reason: str) -> list[str]:
        return ["backup", *self._common(), "--reason", reason, "--venv", self.daemon.venv]

    def legacy_backup_command(self, legacy: str, script: str) -> str:
        """A copy of the hand-built setup's data, before anything of it is imported."""
        args = ["backup", *self._common(legacy, self.legacy_dest), "--reason", "legacy"]
        return _join([self.python, script, *args])

    def import_command(self, legacy: str, script: str) -> str:
        """The hand-built setup's database (online backup) and folders into the service's
        data directory, owned by the service; refused on the host when it has a database."""
        args = ["import", "--from", legacy, "--data", self.data]
        args += ["--database", self.backups.database, "--owner", self.daemon.user]
        for folder in self.backups.folders:
            args += ["--folder", folder]
        return _join([self.python, script, *args])

    def restore_args(self, archive: str) -> list[str]:
        return [
            "restore",
            archive,
            *self._common(),
            "--owner",
            self.daemon.user,
            "--unit",
            self.daemon.unit,
            "--admin-email",
            self.admin_email,
            "--admin-password-file",
            self.admin_password_file,
        ]

    def backup_command(self, reason: str, script: str | None = None) -> str:
        """Shell command for a copy; ``script`` None: the program comes on stdin."""
        return _join([self.python, script or "-", *self.backup_args(reason)])

    def restore_command(self, archive: str) -> str:
        # The service's venv: it has bcrypt, to set the admin's password from the host's store.
        return _join([f"{self.daemon.venv}/bin/python", "-", *self.restore_args(archive)])

    def list_command(self) -> str:
        return _join([self.python, "-", "list", "--dest", self.dest])

    def incoming(self, copy_id: str) -> str:
        """Where a copy sent back for restoring waits (not a name the host's retention counts)."""
        return f"{self.dest}/.incoming-{copy_id}{SUFFIX}"


def webui_host(platform: Platform) -> str:
    """The host the data places Open WebUI on (its data lives there)."""
    for host, _ow in OPEN_WEBUI.placed(platform):
        return host
    raise BackupFailed("no host runs Open WebUI in the data: it has no data to back up")


def plan_for(platform: Platform, host: str | None = None) -> DataPlan:
    """How Open WebUI's data on ``host`` (its host in the data, when None) is copied."""
    host = host or webui_host(platform)
    h = platform.host(host)
    ow = h.get(OpenWebUI)
    if ow is None:
        raise BackupFailed(f"{host} runs no Open WebUI in the data: it has no data to back up")
    return DataPlan(
        daemon=daemon_named(platform, host, SERVICE),
        backups=ow.backups,
        python=h.toolchain.python,
        admin_email=ow.admin_email,
        admin_password_file=h.layout.secret_file(ow.admin_password.env),
    )


def _join(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


# --- copies on the operator's machine --------------------------------------------------------


def local_dir(inventory: Path, role: str, root: Path | None = None) -> Path:
    """``backups/<host>/`` beside the inventory (the lab's copies never mix with the real)."""
    return (root or Path(inventory).resolve().parent / "backups") / role


def local_copies(folder: Path) -> list[str]:
    """Copy ids in ``folder``, oldest first."""
    return ids_in(p.name for p in folder.iterdir()) if folder.is_dir() else []


def select(ids: Sequence[str], wanted: str | None) -> str:
    """The copy ``wanted`` names (an id, or the start of exactly one); the newest when None."""
    if not ids:
        raise BackupFailed("no copy to restore: make one with `homelab backup HOST`")
    if wanted is None:
        return ids[-1]
    wanted = wanted.removesuffix(SUFFIX)
    if wanted in ids:
        return wanted
    matches = [i for i in ids if i.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise BackupFailed(f"no copy {wanted!r}; copies: {', '.join(ids)}")
    raise BackupFailed(f"{wanted!r} names {len(matches)} copies: {', '.join(matches)}")


# --- talking to the host ---------------------------------------------------------------------

Say = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


def _json(result: Result, what: str) -> dict[str, Any]:
    if not result.ok:
        raise BackupFailed(f"{what} failed on the host: {result.stderr.strip()[-2000:]}")
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def _plan(inventory: Path, host: str | None = None) -> DataPlan:
    from homelab.load import load_platform

    platform = load_platform(inventory)
    plan = plan_for(platform, host)
    if not plan.daemon.enabled:
        raise BackupFailed("Open WebUI is disabled in the data: it has no data to back up")
    return plan


@contextmanager
def _host(inventory: Path, plan: DataPlan, say: Say) -> Iterator[Remote]:
    """The host running Open WebUI, reached as pyinfra reaches it for this inventory."""
    try:
        with connected(inventory, [plan.daemon.host], say) as remotes:
            yield remotes[plan.daemon.host]
    except Unreachable as error:
        raise BackupFailed(str(error)) from None


def backup(
    inventory: Path,
    local_root: Path | None = None,
    say: Say = _quiet,
    at: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """A copy made on the host now (kept there with the others) and fetched beside us."""
    plan = _plan(inventory, at)
    with _host(inventory, plan, say) as host:
        say(f"copying {plan.data} on {plan.daemon.host} into {plan.dest} (SQLite's online backup)")
        made = _json(
            host.run(plan.backup_command("manual"), stdin=HOST_SCRIPT.read_text()), "the backup"
        )
        folder = local_dir(inventory, plan.daemon.host, local_root)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = folder / f"{made['id']}{SUFFIX}"
        partial = target.with_name(f".{target.name}.partial")
        say(f"fetching {made['path']} ({human(made['size'])}) to {folder}")
        try:
            host.fetch(made["path"], partial)
        except Unreachable as error:
            partial.unlink(missing_ok=True)
            raise BackupFailed(str(error)) from None
    if sha256(partial) != made["sha256"]:
        partial.unlink(missing_ok=True)
        raise BackupFailed(f"fetching {made['path']}: the copy here is not the host's (sha256)")
    say("checked: the copy here has the host's sha256")
    partial.chmod(0o600)
    partial.replace(target)
    say(f"fetching {plan.daemon.host}'s secret store beside it")
    made["secrets"] = _fetch_secrets(inventory, plan, folder, made["id"])
    made["silences"] = _fetch_silences(inventory, local_root, made["id"], say)
    return target, made


def silences_file(inventory: Path, host: str, copy_id: str, root: Path | None = None) -> Path:
    """Where the silences exported with copy ``copy_id`` are kept, under Alertmanager's host."""
    return local_dir(inventory, host, root) / f"{copy_id}.silences.json"


def _fetch_silences(
    inventory: Path, local_root: Path | None, copy_id: str, say: Say
) -> dict[str, Any] | None:
    """Alertmanager's silences (what the operator has muted, and why), exported beside the
    copy; None where the data runs no Alertmanager."""
    from homelab.load import load_platform

    platform = load_platform(inventory)
    hosts = MONITORING.prometheus_hosts(platform)
    if not hosts:
        return None
    (host,) = hosts
    say(f"exporting Alertmanager's silences on {host}")
    try:
        with connected(inventory, [host], say) as remotes:
            found = remotes[host].run(MONITORING.silences_export(platform, host))
    except Unreachable as error:
        raise BackupFailed(str(error)) from None
    if not found.ok:
        raise BackupFailed(f"exporting the silences on {host}: {found.stderr.strip()}")
    silences = json.loads(found.stdout or "[]")
    target = silences_file(inventory, host, copy_id, local_root)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    target.write_text(json.dumps(silences, indent=1) + "\n")
    return {"path": str(target), "count": len(silences)}


def _put_back_silences(
    inventory: Path, local_root: Path | None, copy_id: str, say: Say
) -> int | None:
    """The silences exported with ``copy_id`` set again (those not yet expired); None: none
    were exported with it."""
    from homelab.load import load_platform

    platform = load_platform(inventory)
    hosts = MONITORING.prometheus_hosts(platform)
    if not hosts:
        return None
    (host,) = hosts
    source = silences_file(inventory, host, copy_id, local_root)
    if not source.is_file():
        return None
    silences = json.loads(source.read_text())
    now = datetime.now(UTC).isoformat()
    running = [s for s in silences if str(s.get("endsAt", "")) > now]
    if not running:
        return 0
    say(f"setting {len(running)} silence(s) again on {host}")
    try:
        with connected(inventory, [host], say) as remotes:
            done = remotes[host].run(
                MONITORING.silences_import(platform, host), stdin=json.dumps(running)
            )
    except Unreachable as error:
        raise BackupFailed(str(error)) from None
    if not done.ok:
        raise BackupFailed(f"setting the silences again on {host}: {done.stderr.strip()}")
    return len(running)


def _fetch_secrets(inventory: Path, plan: DataPlan, folder: Path, copy_id: str) -> dict[str, Any]:
    """The host's secret store, fetched beside the copy (``<id>.secrets.tar.gz``, 0600)."""
    from homelab.secrets import SecretsFailed, fetch_store, store_copy

    target = store_copy(folder, copy_id)
    try:
        names = fetch_store(inventory, plan.daemon.host, plan.daemon.layout.secret_store, target)
    except SecretsFailed as error:
        raise BackupFailed(str(error)) from error
    return {"path": str(target), "names": names}


def restore(
    inventory: Path,
    wanted: str | None = None,
    local_root: Path | None = None,
    say: Say = _quiet,
    at: str | None = None,
) -> dict[str, Any]:
    """Send a local copy back, stop the service, restore into place, start it, wait for it."""
    plan = _plan(inventory, at)
    folder = local_dir(inventory, plan.daemon.host, local_root)
    chosen = select(local_copies(folder), wanted)
    archive = folder / f"{chosen}{SUFFIX}"
    incoming = plan.incoming(chosen)
    q = shlex.quote
    unit = q(plan.daemon.unit)
    # A socket-activated service is started again by its socket at the first connection (a
    # health probe): the socket is closed too while the database is replaced.
    socket = q(plan.daemon.socket_unit) if plan.daemon.socket_path else ""
    with _host(inventory, plan, say) as host:
        size = human(archive.stat().st_size)
        say(f"sending {archive.name} ({size}) to {plan.daemon.host}:{plan.dest}")
        try:
            host.send(archive, incoming)
        except Unreachable as error:
            raise BackupFailed(str(error)) from None
        sent = host.run(f"sha256sum {q(incoming)}")
        if not sent.ok or sent.stdout.split()[:1] != [sha256(archive)]:
            raise BackupFailed(f"sending {archive} failed: {sent.stderr.strip() or 'sha256'}")
        try:
            say(f"stopping {plan.daemon.unit}" + (f" and {socket}" if socket else ""))
            stopped = host.run(f"systemctl stop {socket} {unit}", timeout=180)
            if not stopped.ok:
                raise BackupFailed(f"stopping {plan.daemon.unit}: {stopped.stderr.strip()}")
            say(f"putting {chosen}'s secret store back, if it has one")
            secrets = _put_back_secrets(inventory, plan.daemon.host, folder, chosen)
            say(f"keeping what is there aside, then restoring {chosen} into {plan.data}")
            done = _json(
                host.run(plan.restore_command(incoming), stdin=HOST_SCRIPT.read_text()),
                "the restore",
            )
            done["secrets"] = secrets
            done["silences"] = _put_back_silences(inventory, local_root, chosen, say)
        finally:
            say(f"starting {plan.daemon.unit}, waiting for {plan.daemon.health}")
            started = host.run(
                f"rm -f {q(incoming)}; systemctl start {socket} {unit} && "
                f"curl -fsS -o /dev/null --max-time 5 --retry 150 --retry-delay 2 "
                f"--retry-all-errors {q(plan.daemon.health_url)}",
                timeout=600,
            )
    if not started.ok:
        raise BackupFailed(
            f"{plan.daemon.unit} did not answer {plan.daemon.health} after the restore: "
            f"{started.stderr.strip()}"
        )
    return done


def _put_back_secrets(
    inventory: Path, host: str, folder: Path, copy_id: str
) -> dict[str, Any] | None:
    """The store copy made with ``copy_id`` put back, before Open WebUI starts again: the env
    files rewritten from it and the other running services that read a changed one restarted.
    None: that copy has no store copy beside it (the host's secrets stay as they are)."""
    from dataclasses import asdict

    from homelab.load import load_platform
    from homelab.secrets import SecretsFailed, put_back_store, store_copy

    archive = store_copy(folder, copy_id)
    if not archive.is_file():
        return None
    try:
        done = put_back_store(inventory, host, load_platform(inventory), archive, copy_id)
    except SecretsFailed as error:
        raise BackupFailed(str(error)) from error
    return asdict(done)


def listing(
    inventory: Path,
    local_root: Path | None = None,
    say: Say = _quiet,
    at: str | None = None,
) -> dict[str, list[str]]:
    """Copy ids on the host and on this machine, oldest first."""
    plan = _plan(inventory, at)
    with _host(inventory, plan, say) as host:
        say(f"listing the copies in {plan.daemon.host}:{plan.dest}")
        on_host = _json(host.run(plan.list_command(), stdin=HOST_SCRIPT.read_text()), "listing")
    return {
        "host": [c["id"] for c in on_host["copies"]],
        "local": local_copies(local_dir(inventory, plan.daemon.host, local_root)),
    }


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
