"""Reading a host's warm-ups: each warmed server's running start and its last warm-up's record
(``deploys/scripts/warm_up.py`` writes it), asked in one shell command. The deploy decides
from them whether to warm again; ``homelab status`` shows them.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from homelab.model import Platform
from homelab.model.service import Warmup

_MARK = "~~warm "


@dataclass(frozen=True)
class Warmed:
    """What a host says of one warm-up: its server's running start, its last record."""

    instance: str
    record: dict[str, Any] | None


def command(platform: Platform, warmups: tuple[Warmup, ...]) -> str:
    """Shell printing, per warm-up, a mark naming its daemon, the name of the server's running
    start (one line, empty when it does not run) and its record (one line, empty if none)."""
    parts = []
    for w in warmups:
        init = platform.host(w.daemon.host).os.init
        instance = init.instance_command(init.unit_id(w.daemon.layout, w.daemon.name))
        parts.append(
            f"echo {shlex.quote(_MARK + w.daemon.name)}; "
            f'echo "$({instance} | head -n 1)"; '
            f"tr -d '\\n' < {shlex.quote(w.record)} 2>/dev/null; echo"
        )
    return "\n".join(parts)


def read(output: list[str]) -> dict[str, Warmed]:
    """:func:`command`'s lines, by daemon."""
    found: dict[str, Warmed] = {}
    lines = iter(output)
    for line in lines:
        if not line.startswith(_MARK):
            continue
        name = line[len(_MARK) :].strip()
        instance = next(lines, "").strip()
        text = next(lines, "").strip()
        try:
            record = json.loads(text) if text else None
        except ValueError:
            record = None  # a torn or foreign file: as good as none
        found[name] = Warmed(instance, record if isinstance(record, dict) else None)
    return found


def why_warm(warmup: Warmup, found: Warmed) -> str | None:
    """Why the server's models must be asked again, or None when its warm-up stands."""
    record = found.record
    if record is None:
        return "never warmed"
    if not found.instance or record.get("instance") != found.instance:
        return "started since its last warm-up"
    if stale_profile(warmup, record):
        return f"it warms {warmup.profile} now"
    if failed(record):
        return "its last warm-up failed"
    return None


def stale_profile(warmup: Warmup, record: dict[str, Any]) -> bool:
    """Whether the record is of another profile or other models than the data's."""
    models = record.get("models") or {}
    asked = sorted([handle, (m or {}).get("upstream")] for handle, m in models.items())
    return record.get("profile") != warmup.profile or asked != sorted(map(list, warmup.models))


def failed(record: dict[str, Any]) -> list[str]:
    """The models of a record that did not answer, each with why."""
    models = record.get("models") or {}
    return [f"{h}: {m.get('error')}" for h, m in models.items() if (m or {}).get("error")]


def first_answers(record: dict[str, Any]) -> dict[str, float]:
    """Each model's first-answer seconds in a record (those that answered)."""
    models = record.get("models") or {}
    return {
        h: float(m["seconds"])
        for h, m in models.items()
        if isinstance(m, dict) and m.get("seconds") is not None and not m.get("error")
    }


def describe(warmup: Warmup, found: Warmed | None) -> str:
    """One line for ``homelab status``: the warm-up, its first answers, and whether it holds."""
    head = f"warm-up {warmup.daemon.name} ({warmup.profile})"
    if found is None or found.record is None:
        return f"{head}: never run (the next deploy runs it)"
    record = found.record
    times = ", ".join(f"{h} {s:.2f} s" for h, s in first_answers(record).items())
    line = f"{head} at {record.get('at', '?')}: first answers {times or 'none'}"
    bad = failed(record)
    if bad:
        line += f"; failed: {'; '.join(bad)}"
    if stale_profile(warmup, record):
        line += f"; of {record.get('profile')!r}, not the data's (the next deploy warms it)"
    elif not found.instance or record.get("instance") != found.instance:
        line += "; the server started again since: cold until the next deploy"
    return line
