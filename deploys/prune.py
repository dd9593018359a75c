"""What leaves the data leaves the host: the one place a deploy removes what it installed.

Run at the end of a host's deploy, once the daemons the data names are up. What the platform
installed is known by a naming rule it owns, not by a manifest (``homelab.render.units``): on
systemd every unit it renders carries its mark line, on launchd every plist is
``<launchd_prefix>.*.plist`` in LaunchDaemons. The units and plists on the host are the record
themselves, so there is no second copy to drift from them: a failed deploy, a host restored
from a copy or a lost manifest cannot hide a server, and a unit written by hand without the
mark is never touched.

- A unit or plist of the platform that the data no longer names (an MLX server whose model was
  dropped, moved to backroom storage or to another port) is stopped, disabled and removed.
  Daemons the data names but switches off (an OptiLLM local instance, AFM) are not this
  module's: their deploy keeps them stopped and disabled, their files stay.
- Each install root keeps two venvs: the one its ``venv`` link names and the newest other one.
  That covers roots whose service left, which no service deploy visits any more.

It never removes data: model weights, Open WebUI's data, secrets, backups and state directories
are outside everything it looks at (units, plists, ``<opt>/<install>/venvs``).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.files import Directory, FindDirectories, FindFiles, FindInFile
from pyinfra.facts.launchd import LaunchdStatus
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from deploys.loops import each
from deploys.state import current, exists, link_target
from homelab.model import Platform
from homelab.model.common import Layout
from homelab.model.system import UnitNaming
from homelab.services import daemons

#: Venvs an install root keeps: the one in use and the one before it.
VENVS_KEPT = 2


def platform_units(naming: UnitNaming) -> list[str]:
    """Paths of the units or plists on the host that the platform's naming rule claims."""
    known = current().marked
    if naming.mark is not None and known is not None:
        return sorted(known)  # the deploy's snapshot listed them
    found = host.get_fact(FindFiles, path=naming.directory, maxdepth=1, fname=naming.pattern)
    if naming.mark is None:
        return sorted(found)
    return sorted(p for p in found if host.get_fact(FindInFile, path=p, pattern=naming.mark))


def stale_units(platform: Platform, role: str) -> list[str]:
    """Paths of the platform's units or plists on the host that no daemon of the data names."""
    h = platform.host(role)
    named = {p for d in daemons(platform, role) for p in d.unit_paths}
    return [p for p in platform_units(h.os.init.naming(h.layout)) if p not in named]


@deploy("Remove what the data no longer names")
def prune(platform: Platform, role: str) -> None:
    h = platform.host(role)
    RETIRE[h.os.init.name](platform, role)
    _keep_newest_venvs(h.layout)


def _retire_units(platform: Platform, role: str) -> None:
    removed: list[OperationMeta] = []
    for path in each(stale_units(platform, role)):
        unit = posixpath.basename(path)
        socket = f"{posixpath.splitext(path)[0]}.socket"
        if exists(socket):  # first: a socket left listening would start the service again
            systemd.service(
                name=f"Stop and disable {posixpath.basename(socket)} (its service leaves)",
                service=posixpath.basename(socket),
                running=False,
                enabled=False,
            )
            removed.append(files.file(name=f"Remove {socket}", path=socket, present=False))
        systemd.service(
            name=f"Stop and disable {unit} (the data no longer names it)",
            service=unit,
            running=False,
            enabled=False,
        )
        removed.append(files.file(name=f"Remove {path}", path=path, present=False))
    if removed:
        systemd.daemon_reload(
            name="Reload systemd units (stale ones removed)", _if=any_changed(*removed)
        )


def _retire_plists(platform: Platform, role: str) -> None:
    h = platform.host(role)
    naming = h.os.init.naming(h.layout)
    named = {d.unit for d in daemons(platform, role)}
    on_disk = {naming.name_of(p): p for p in platform_units(naming)}
    loaded = host.get_fact(LaunchdStatus)
    ours = {label for label in loaded if label.startswith(f"{h.layout.launchd_prefix}.")}
    for label in sorted((set(on_disk) | ours) - named):
        if label in loaded:
            server.shell(
                name=f"Boot out {label} (the data no longer names it)",
                commands=[f"launchctl bootout system/{label}"],
            )
        if label in on_disk:
            files.file(name=f"Remove {on_disk[label]}", path=on_disk[label], present=False)


#: How each init system's stale units leave: systemd's stopped, disabled, removed; launchd's
#: plists booted out and removed.
RETIRE: dict[str, Callable[[Platform, str], None]] = {
    "systemd": _retire_units,
    "launchd": _retire_plists,
}


def _keep_newest_venvs(layout: Layout) -> None:
    listed = current().venvs
    venvs = (
        list(listed)
        if listed is not None
        else host.get_fact(
            FindDirectories, path=layout.opt, maxdepth=3, path_match=f"{layout.opt}/*/venvs/*"
        )
    )
    by_root: dict[str, list[str]] = defaultdict(list)
    for path in venvs:
        by_root[posixpath.dirname(posixpath.dirname(path))].append(path)
    for root, found in sorted(by_root.items()):
        if len(found) <= VENVS_KEPT:
            continue
        in_use = link_target(layout.venv(posixpath.basename(root)))
        others = sorted((p for p in found if p != in_use), key=lambda p: _mtime(p), reverse=True)
        keep = VENVS_KEPT - (1 if in_use in found else 0)
        for path in others[keep:]:
            files.directory(name=f"Remove the old venv {path}", path=path, present=False)
            files.file(
                name=f"Remove its lock {path}.requirements.txt",
                path=f"{path}.requirements.txt",
                present=False,
            )


def _mtime(path: str) -> datetime:
    listed = current().venvs
    if listed is not None and path in listed:
        return datetime.fromtimestamp(listed[path])
    info = host.get_fact(Directory, path=path)
    mtime = info.get("mtime") if info else None
    return mtime or datetime.min
