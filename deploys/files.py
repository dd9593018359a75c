"""Placing rendered files on a host: as they are, or only once their service accepts them."""

from __future__ import annotations

import posixpath
import shlex
from io import StringIO
from typing import Any

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, server

from deploys.state import current, in_place
from homelab.model import HostFile


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
