"""Open WebUI, pointed at the gateway, its data kept in its own state directory.

Its data (the SQLite database and the uploads) is the platform's data whose loss hurts users
most. Before a deploy changes what Open WebUI runs (its package) or how (its unit, its env
files), the data is copied on the host with SQLite's online backup API, and only the newest
copies are kept (``OpenWebUI.backups``). The copy is made first, while the running service is
still the old one and nothing of the change is in place: a failed copy stops the host's deploy
before the change. A deploy that changes nothing copies nothing; a host with no database yet
has nothing to copy.

The copy runs with the host's Python (the toolchain's interpreter, every venv's base): it is
there before any venv and whatever state the service's venv is in, and its ``sqlite3`` module
has the backup API. Debian's minimal hosts have no ``sqlite3`` command line tool.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra.operations import server

from deploys.files import put
from deploys.service import Deployer, ServiceDeploy, deploys
from deploys.state import exists, in_place, link_target
from homelab import backup_host
from homelab.backup import plan_for
from homelab.locks import venv_target
from homelab.model import Platform
from homelab.model.takeover import LegacyUnit
from homelab.render import HostFile, daemon_files
from homelab.secrets import secret_names
from homelab.services import Daemon
from homelab.services.open_webui import OpenWebUIService


def pending_changes(platform: Platform, daemon: Daemon) -> list[str]:
    """What this deploy is about to change of the service, from the host's facts: its package
    (the venv the lock names), its unit and env files, its secrets' names."""
    changes = []
    if daemon.requirements and link_target(daemon.venv) != venv_target(daemon):
        changes.append(f"package {daemon.requirements[0]}")
    for f in daemon_files(platform, daemon):
        if not in_place(f.path, f.content):
            changes.append(f.path)
    if daemon.secrets_env:
        names = f"{daemon.secrets_env}.names"
        if not in_place(names, secret_names(daemon)) or not exists(daemon.secrets_env):
            changes.append(daemon.secrets_env)
    return changes


def backup_program(platform: Platform, host: str) -> HostFile:
    """The program that copies the data on the host (the host's own Python runs it)."""
    script = Path(backup_host.__file__)
    return HostFile(path=plan_for(platform, host).script, content=script.read_text(), mode="0700")


def legacy_database(platform: Platform, host: str) -> str | None:
    """The hand-built setup's database, when the data names its folder."""
    legacy = platform.host(host).takeover.open_webui_data
    return f"{legacy}/{plan_for(platform, host).backups.database}" if legacy else None


class OpenWebUIDeploy(ServiceDeploy):
    def install(self) -> None:
        if self.daemon.enabled:
            self.backup_before_change()
        super().install()

    def backup_before_change(self) -> None:
        plan = plan_for(self.platform, self.daemon.host)
        put(backup_program(self.platform, self.daemon.host))
        if not exists(plan.database):
            return  # a new host: no data yet
        changes = pending_changes(self.platform, self.daemon)
        if changes:
            server.shell(
                name=f"Back up Open WebUI's data before the change ({', '.join(changes)})",
                commands=[plan.backup_command("deploy", script=plan.script)],
            )

    def take_over(self) -> None:
        super().take_over()
        if self.daemon.enabled:
            self.import_legacy_data()

    def import_legacy_data(self) -> None:
        """The hand-built setup's users and chats, once: its database and uploads into the new
        data directory, only while that has no database, after a copy of them is made.

        The legacy service is stopped first (the copy is consistent either way; its uploads
        would not be); its data directory is left as it was.
        """
        legacy = self.platform.host(self.daemon.host).takeover.open_webui_data
        if legacy is None:
            return
        plan = plan_for(self.platform, self.daemon.host)
        if exists(plan.database):
            return  # the new one has its own data: never overwritten
        if not exists(legacy_database(self.platform, self.daemon.host) or ""):
            return  # nothing was there
        q = shlex.quote
        stop = [f"systemctl stop {q(u.unit)}" for u in self.legacy_units()]
        server.shell(
            name=f"Take over Open WebUI's users and chats from {legacy} (copied first)",
            commands=[
                *stop,
                plan.legacy_backup_command(legacy, script=plan.script),
                plan.import_command(legacy, script=plan.script),
            ],
        )

    def legacy_units(self) -> list[LegacyUnit]:
        """The legacy units this daemon replaces (a same-name one included)."""
        units = self.platform.host(self.daemon.host).takeover.units
        return [u for u in units if self.daemon.name in u.replaced_by]


@deploys(OpenWebUIService)
class OpenWebUIDeployer(Deployer):
    title = "Open WebUI"
    daemon_deploy = OpenWebUIDeploy

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        plan = plan_for(platform, host)
        legacy = legacy_database(platform, host)
        return (plan.script, plan.database, *((legacy,) if legacy else ()))
