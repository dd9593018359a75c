"""Parse rendered files back, so tests compare structures rather than text."""

from __future__ import annotations

import shlex


def unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"directive outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def env(text: str) -> dict[str, str]:
    """An EnvironmentFile (also POSIX-sh sourceable): KEY=VALUE lines, shell quoting allowed."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key.isidentifier(), f"not an env assignment: {line!r}"
        words = shlex.split(value)
        assert len(words) <= 1, f"value of {key} splits into words: {value!r}"
        out[key] = words[0] if words else ""
    return out
