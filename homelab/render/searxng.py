"""SearXNG's settings.yml: JSON on, limiter off, loopback only, secret from the host."""

from __future__ import annotations

from homelab.daemons import Daemon
from homelab.model import Platform
from homelab.render.engine import render
from homelab.render.files import HostFile


def settings_path(daemon: Daemon) -> str:
    return daemon.environment["SEARXNG_SETTINGS_PATH"]


def files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    sx = platform.mini.searxng
    return [
        HostFile(
            path=settings_path(daemon),
            content=render("searxng/settings.yml.j2", searxng=sx, listener=sx.listener),
            group=daemon.user,
            mode="0640",
            restarts=(daemon.name,),
        )
    ]
