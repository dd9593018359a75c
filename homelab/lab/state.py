"""The state file: which processes run the lab's hosts, and what the lab changed on the machine.

It is a hint, never the only truth: ``up`` and ``down`` also look for leftovers (processes,
bridge, tagged rules, mounts) that a lost or stale state file no longer names.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_VERSION = 1


class StateError(ValueError):
    """A state file that cannot be read (a crash mid-write, an edit by hand)."""


@dataclass(frozen=True)
class HostRun:
    """One running host: its nspawn process and the container's init, with their start times."""

    name: str
    nspawn_pid: int
    nspawn_start: int
    init_pid: int
    init_start: int
    #: The address it was booted with ("" in a state file from before addresses were kept).
    address: str = ""


@dataclass(frozen=True)
class LabState:
    bridge: str
    subnet: str
    hosts: dict[str, HostRun] = field(default_factory=dict)
    #: The machine's net.ipv4.ip_forward before ``up``, restored by ``down``.
    ip_forward_before: str | None = None
    version: int = STATE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        try:
            raw: Any = json.loads(text)
            if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
                raise StateError(f"unknown state version {raw.get('version') if raw else None}")
            hosts = {name: HostRun(**run) for name, run in dict(raw.get("hosts", {})).items()}
            return cls(
                bridge=str(raw["bridge"]),
                subnet=str(raw["subnet"]),
                hosts=hosts,
                ip_forward_before=raw.get("ip_forward_before"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, StateError):
                raise
            raise StateError(str(exc)) from exc


def load(path: Path) -> LabState | None:
    """The state in ``path``, or None when there is none; :class:`StateError` when unreadable."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return LabState.from_json(text)


def save(path: Path, state: LabState) -> None:
    """Write atomically, so a kill mid-write leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
