"""Rendering: the jinja2 environment, host files, and units/plists from daemon descriptions.

What each service renders lives in its module (``homelab/services/``); these are the entry
points that gather a host's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from homelab.render.files import HostFile

if TYPE_CHECKING:
    from homelab.model.platform import Platform
    from homelab.services.base import Daemon


def daemon_files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    """A daemon's unit or plist and its configuration files."""
    from homelab import services

    return services.daemon_files(platform, daemon)


def host_files(platform: Platform, role: str) -> list[HostFile]:
    """Every file a host receives."""
    from homelab import services

    return services.host_files(platform, role)


#: What a render wrote into its folder, one path a line: the next render there removes what
#: the model no longer renders, and only that.
MANIFEST = ".homelab-render"


def _listed(out: Path) -> set[str]:
    manifest = out / MANIFEST
    return set(manifest.read_text().splitlines()) if manifest.is_file() else set()


def foreign_files(out: Path) -> list[Path]:
    """Files under ``out`` that no render wrote there (its manifest does not list them)."""
    if not out.is_dir():
        return []
    listed = _listed(out) | {MANIFEST}
    return sorted(
        p
        for p in out.rglob("*")
        if (p.is_symlink() or not p.is_dir()) and p.relative_to(out).as_posix() not in listed
    )


def write_tree(files: list[HostFile], out: Path) -> list[Path]:
    """Write each file at its host path under ``out`` (for review and diffs) and remove what
    the previous render there wrote and this one does not: ``out`` holds exactly the render.

    Only files a manifest lists are removed, never a folder's other content (the caller
    refuses a folder holding any: see :func:`foreign_files`).
    """
    names = [f.path.lstrip("/") for f in files]
    before = _listed(out)
    out.mkdir(parents=True, exist_ok=True)
    # Both renders listed until the old one's leftovers are gone: an interrupted render still
    # leaves every file it wrote listed, so the next one can remove it.
    (out / MANIFEST).write_text("".join(f"{n}\n" for n in sorted(before | set(names))))
    written = []
    for f, name in zip(files, names, strict=True):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.content)
        written.append(target)
    for name in sorted(before - set(names)):
        stale = out / name
        if Path(name).is_absolute() or ".." in Path(name).parts or not stale.is_file():
            continue  # only a file inside ``out`` that a render wrote
        stale.unlink()
        for folder in stale.parents:  # the folders it leaves empty go with it
            if folder == out or any(folder.iterdir()):
                break
            folder.rmdir()
    (out / MANIFEST).write_text("".join(f"{n}\n" for n in sorted(set(names))))
    return written


__all__ = ["MANIFEST", "HostFile", "daemon_files", "foreign_files", "host_files", "write_tree"]
