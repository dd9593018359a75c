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

from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.facts.files import File, Link
from pyinfra.operations import files, server

from deploys.steps import ServiceDeploy, in_place, secret_names, venv_target
from deploys.toolchain import Tools
from homelab import backup_host
from homelab.backup import plan_for
from homelab.model import Platform
from homelab.model.takeover import LegacyUnit
from homelab.render import daemon_files
from homelab.services import Daemon, ServiceModule


def pending_changes(platform: Platform, daemon: Daemon) -> list[str]:
    """What this deploy is about to change of the service, from the host's facts: its package
    (the venv the lock names), its unit and env files, its secrets' names."""
    changes = []
    if daemon.requirements:
        link = host.get_fact(Link, path=daemon.venv)
        if not link or link.get("link_target") != venv_target(daemon):
            changes.append(f"package {daemon.requirements[0]}")
    for f in daemon_files(platform, daemon):
        if not in_place(f.path, f.content):
            changes.append(f.path)
    if daemon.secrets_env:
        names = f"{daemon.secrets_env}.names"
        if not in_place(names, secret_names(daemon)) or not host.get_fact(
            File, path=daemon.secrets_env
        ):
            changes.append(daemon.secrets_env)
    return changes


class OpenWebUIDeploy(ServiceDeploy):
    def install(self) -> None:
        if self.daemon.enabled:
            self.backup_before_change()
        super().install()

    def backup_before_change(self) -> None:
        plan = plan_for(self.platform)
        files.put(
            name="Open WebUI backup program",
            src=backup_host.__file__,
            dest=plan.script,
            user="root",
            group="root",
            mode="0700",
        )
        if not host.get_fact(File, path=plan.database):
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
        legacy = self.platform.mini.takeover.open_webui_data
        if legacy is None:
            return
        plan = plan_for(self.platform)
        if host.get_fact(File, path=plan.database):
            return  # the new one has its own data: never overwritten
        if not host.get_fact(File, path=f"{legacy}/{plan.backups.database}"):
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
        units = self.platform.mini.takeover.units
        return [u for u in units if self.daemon.name in u.replaced_by]


@deploy("Open WebUI")
def deploy_open_webui(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    OpenWebUIDeploy.of(platform, service, tools).run()
