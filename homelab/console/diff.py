"""``homelab diff HOST``: each live file against what the model renders for it.

Every file the model says the host holds, guarded ones included (the router config, SearXNG's
settings, the units: a deploy replaces them through a candidate and a check, where pyinfra's
``--diff`` does not look). The live files come back in one round trip, base64-encoded.
"""

from __future__ import annotations

import base64
import binascii
import difflib
from pathlib import Path

from homelab.console.connect import Unreachable, connected
from homelab.console.probe import MARK, expected_files, q, sections
from homelab.load import load_platform
from homelab.model import Platform
from homelab.render import HostFile


def script(files: list[HostFile]) -> str:
    """Each file base64-encoded under ``@@ file PATH``, or ``@@ missing PATH``."""
    names = " ".join(q(f.path) for f in files)
    return (
        f'for f in {names}; do if [ -f "$f" ]; then echo "{MARK} file $f"; base64 < "$f"; '
        f'else echo "{MARK} missing $f"; fi; done\n'
    )


def live_files(output: str) -> dict[str, str | None]:
    """Path to content (None: missing) from the script's output."""
    out: dict[str, str | None] = {}
    for kind, path, lines in sections(output):
        if kind == "missing":
            out[path] = None
        elif kind == "file":
            try:
                out[path] = base64.b64decode("".join(lines)).decode("utf-8", "replace")
            except binascii.Error as error:
                raise Unreachable(f"{path}: unreadable answer from the host: {error}") from None
    return out


def unified(role: str, f: HostFile, live: str | None) -> list[str]:
    """The unified diff from the live file to the rendered one; empty when they are equal."""
    if live == f.content:
        return []
    before = [] if live is None else live.splitlines(keepends=True)
    return [
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in difflib.unified_diff(
            before,
            f.content.splitlines(keepends=True),
            fromfile=f"{role}:{f.path} (live{', missing' if live is None else ''})",
            tofile=f"{f.path} (rendered from the model)",
        )
    ]


def plan(platform: Platform, role: str) -> tuple[list[HostFile], str]:
    files = expected_files(platform, role)
    return files, script(files)


def diff(inventory: Path | str, role: str) -> tuple[list[str], int]:
    """The diff's text of one host and how many files differ."""
    platform = load_platform(inventory)
    files, probe = plan(platform, role)
    with connected(inventory, [role]) as remotes:
        done = remotes[role].run(probe, timeout=120)
    if not done.ok:
        raise Unreachable(f"{role}: reading the live files failed: {done.stderr.strip()}")
    live = live_files(done.stdout)
    out: list[str] = []
    differing = 0
    for f in files:
        lines = unified(role, f, live.get(f.path))
        if lines:
            differing += 1
            out += lines
    return out, differing
