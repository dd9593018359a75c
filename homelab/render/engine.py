"""The jinja2 environment every template renders in: strict, with filters for each format."""

from __future__ import annotations

import json
import shlex
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from homelab import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"


def _systemd_quote(text: str) -> str:
    """Quote one word for a unit file; ``${VAR}`` stays expandable by systemd."""
    if text and all(c.isalnum() or c in "/._-=:,@${}+" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_argv(argv: tuple[str, ...]) -> str:
    """A command line for ExecStart=, each word quoted as systemd reads it."""
    return " ".join(_systemd_quote(a) for a in argv)


def _state_directory(path: str, base: str) -> str:
    """StateDirectory= takes a path relative to /var/lib."""
    if not path.startswith("/var/lib/"):
        raise ValueError(f"state dir {path!r} (under {base!r}) is not under /var/lib")
    return path.removeprefix("/var/lib/")


def _env_value(value: Any) -> str:
    """A value for a systemd EnvironmentFile line (also valid for POSIX sh sourcing)."""
    text = str(value)
    if text and all(c.isalnum() or c in "/._-:,@+" for c in text):
        return text
    return shlex.quote(text)


def _json(value: Any, indent: int | None = None) -> str:
    # jinja's own tojson escapes <, > and & for HTML, which would corrupt config files.
    return json.dumps(value, indent=indent, sort_keys=False)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(
        systemd_quote=_systemd_quote,
        systemd_argv=systemd_argv,
        state_directory=_state_directory,
        env_value=_env_value,
        json=_json,
        xml=escape,
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
