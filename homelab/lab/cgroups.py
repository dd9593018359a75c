"""One cgroup per host, so no two hosts' systemd ever manage the same cgroup tree.

Without a systemd on the machine, ``--keep-unit`` leaves each nspawn in the cgroup it was
started from, and nspawn puts its container at ``<that cgroup>/payload``. Two hosts started
from the same cgroup would share ``payload/system.slice/*``: one host's systemd would then
start and stop the other's services (seen as ``status=219/CGROUP`` at boot).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from homelab.lab.mounts import MOUNTINFO, unescape

#: The lab's cgroups live under this name at the top of each hierarchy systemd uses.
CGROUP_PARENT = "homelab-lab"


def hierarchies(mountinfo: str | None = None) -> list[Path]:
    """Mount points of the hierarchies a container's systemd manages: cgroup2 and name=systemd."""
    text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
    found: list[Path] = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options):
            found.append(Path(unescape(fields[4])))
    return found


def host_cgroups(name: str, mountinfo: str | None = None) -> list[Path]:
    return [root / CGROUP_PARENT / name for root in hierarchies(mountinfo)]


def enter(name: str) -> None:
    """Move the calling process into ``name``'s cgroups (run in the child before nspawn starts)."""
    pid = str(os.getpid())
    for path in host_cgroups(name):
        path.mkdir(parents=True, exist_ok=True)
        (path / "cgroup.procs").write_text(pid)


def _remove_tree(top: Path) -> int:
    removed = 0
    if not top.is_dir():
        return 0
    for dirpath, _dirs, _files in os.walk(top, topdown=False):
        # A cgroup that still holds a process refuses rmdir: leave it, it is not ours to end.
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)
            removed += 1
    return removed


def remove_all() -> int:
    """Remove the lab's (now empty) cgroups, deepest first; return how many were removed."""
    return sum(_remove_tree(root / CGROUP_PARENT) for root in hierarchies())


def remove_host(name: str) -> int:
    """Remove one stopped host's cgroups, leaving the running hosts' trees alone.

    A running host's systemd owns the cgroups below its own: removing its empty ones from
    outside would pull them from under it.
    """
    return sum(_remove_tree(path) for path in host_cgroups(name))
