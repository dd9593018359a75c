"""Files a host receives, built the usual ways: env files and JSON documents."""

from __future__ import annotations

from typing import Any

from homelab.model.service import Daemon, HostFile
from homelab.render.engine import render

__all__ = ["HostFile", "env_file", "json_file"]


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
