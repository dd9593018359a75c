"""Taking over a hand-built host: its legacy units out of the way of the daemons replacing them.

Two steps, both in every service deploy (``deploys.service.ServiceDeploy``), both decided from
the host's facts so that a host already taken over runs nothing:

- :func:`save_aside`, before the daemon's files are placed: a legacy unit with the very name of
  the daemon's unit has its file copied to ``<unit file>.legacy`` once (when that copy does not
  exist yet and the file there is not one this platform rendered);
- :func:`stop_legacy`, just before the daemon starts: each legacy unit it replaces is stopped
  and disabled (a launchd job booted out and disabled), at the first of its replacing daemons.
  The gateway's port is without a listener only from here to the new daemon's start.

Nothing of the legacy setup is deleted: ``homelab way-back HOST`` prints the commands that
bring it back.
"""

from __future__ import annotations

import re
import shlex

from pyinfra.api.facts import FactBase
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.files import FindInFile
from pyinfra.facts.launchd import LaunchdStatus
from pyinfra.operations import server, systemd

from deploys.state import current, exists
from homelab.model import Platform
from homelab.model.takeover import SAVED_SUFFIX, LegacyJob, LegacyUnit
from homelab.services import Daemon, daemons

#: Every unit and plist this platform renders says so in its first line.
RENDERED_MARK = "rendered from the platform model"


class LaunchdDisabled(FactBase[set[str]]):
    """The labels of the system domain's jobs that are disabled (``launchctl print-disabled``)."""

    default = set

    def command(self) -> str:
        return "launchctl print-disabled system"

    def process(self, output: list[str]) -> set[str]:
        found = set()
        for line in output:
            match = re.match(r'\s*"([^"]+)"\s*=>\s*(\S+)', line)
            if match and match.group(2) in ("disabled", "true"):
                found.add(match.group(1))
        return found


def _first_replacer(platform: Platform, daemon: Daemon, replaced_by: tuple[str, ...]) -> bool:
    """Whether ``daemon`` is the first, in deploy order, of the enabled daemons replacing a
    legacy unit: the one before whose start it goes."""
    order = [d.name for d in daemons(platform, daemon.host) if d.enabled]
    first = next((name for name in order if name in replaced_by), None)
    return first == daemon.name


def legacy_of(platform: Platform, daemon: Daemon) -> list[LegacyUnit | LegacyJob]:
    """The legacy units and jobs that go out of the way just before ``daemon`` starts."""
    takeover = platform.host(daemon.host).takeover
    items: list[LegacyUnit | LegacyJob] = [*takeover.units, *takeover.launchd_jobs]
    return [i for i in items if _first_replacer(platform, daemon, i.replaced_by)]


def same_name_unit(platform: Platform, daemon: Daemon) -> LegacyUnit | None:
    """The legacy unit that has this daemon's unit's very name, if there is one."""
    for unit in platform.host(daemon.host).takeover.units:
        if unit.same_name and unit.unit == daemon.unit and daemon.name in unit.replaced_by:
            return unit
    return None


def save_aside(platform: Platform, daemon: Daemon) -> list[OperationMeta]:
    """The legacy unit file of the daemon's own unit name, copied aside once."""
    if same_name_unit(platform, daemon) is None:
        return []
    path = daemon.unit_path
    saved = f"{path}{SAVED_SUFFIX}"
    if not exists(path) or exists(saved):
        return []
    if host.get_fact(FindInFile, path=path, pattern=RENDERED_MARK, interpolate_variables=False):
        return []  # already ours: there is nothing of the legacy setup to keep
    q = shlex.quote
    return [
        server.shell(
            name=f"Take over {daemon.unit}: keep the legacy unit file as {saved}",
            commands=[f"cp -p {q(path)} {q(saved)}"],
        )
    ]


def stop_legacy(platform: Platform, daemon: Daemon) -> list[OperationMeta]:
    """Each legacy unit (launchd job) the daemon replaces: stopped and disabled, files kept.

    A legacy unit of the daemon's own name is left to the daemon's own restart, which stops
    the legacy process and starts the platform's on the same unit.
    """
    if not daemon.enabled:
        return []
    ops: list[OperationMeta] = []
    state = current()
    for item in legacy_of(platform, daemon):
        if isinstance(item, LegacyJob):
            ops += _stop_job(item)
        elif state.stopped_and_disabled(item.unit):
            continue  # stopped and not enabled already: taken over earlier
        elif not item.same_name:
            ops.append(
                systemd.service(
                    name=f"Take over from {item.unit}: stop and disable it (its files stay)",
                    service=item.unit,
                    running=False,
                    enabled=False,
                )
            )
    return ops


def _stop_job(job: LegacyJob) -> list[OperationMeta]:
    target = f"system/{job.label}"
    ops = []
    if job.label in host.get_fact(LaunchdStatus):
        ops.append(
            server.shell(
                name=f"Take over from {job.label}: boot it out (its plist stays)",
                commands=[f"launchctl bootout {target}"],
            )
        )
    if job.label not in host.get_fact(LaunchdDisabled):
        ops.append(
            server.shell(
                name=f"Take over from {job.label}: disable it (not loaded again at boot)",
                commands=[f"launchctl disable {target}"],
            )
        )
    return ops
