"""Mounts left under the lab's directories (a killed debootstrap leaves /proc and /sys there)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from homelab.lab.system import CommandFailed, run

MOUNTINFO = Path("/proc/self/mountinfo")


def unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_points(mountinfo: str | None = None) -> list[str]:
    text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
    return [unescape(line.split()[4]) for line in text.splitlines() if len(line.split()) > 4]


def mounts_under(dirs: Iterable[Path], mountinfo: str | None = None) -> list[str]:
    """Mount points strictly below any of ``dirs``, deepest first (the order to unmount them)."""
    prefixes = [f"{str(d).rstrip('/')}/" for d in dirs]
    found = {m for m in mount_points(mountinfo) if any(m.startswith(p) for p in prefixes)}
    return sorted(found, key=lambda m: (m.count("/"), m), reverse=True)


def unmount_under(dirs: Iterable[Path]) -> list[str]:
    """Unmount everything below ``dirs``; return what was unmounted."""
    dirs = list(dirs)
    done: list[str] = []
    # A mount can hide others stacked on the same point: repeat until none is left.
    for _ in range(20):
        pending = mounts_under(dirs)
        if not pending:
            break
        for point in pending:
            try:
                run(["umount", point], timeout=30)
            except CommandFailed:
                run(["umount", "--lazy", point], check=False, timeout=30)
            done.append(point)
    return done
