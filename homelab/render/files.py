"""A file a host receives: where it goes, what it holds, who owns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homelab.render.engine import render

if TYPE_CHECKING:
    from homelab.services.base import Daemon


@dataclass(frozen=True)
class HostFile:
    path: str
    content: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0644"
    #: Daemons whose restart this file calls for when it changes.
    restarts: tuple[str, ...] = ()


def env_file(
    path: str, title: str, env: dict[str, str], daemon: Daemon, restarts: bool = True
) -> HostFile:
    """A non-secret env file, readable by root and the service's group only."""
    return HostFile(
        path=path,
        content=render("common/env.j2", title=title, env=env, secrets_env=daemon.secrets_env),
        group=daemon.user,
        mode="0640",
        restarts=(daemon.name,) if restarts else (),
    )


def json_file(path: str, data: Any, **kwargs: Any) -> HostFile:
    return HostFile(path=path, content=render("common/json.j2", data=data), **kwargs)
