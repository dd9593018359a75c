"""SearXNG's settings.yml: JSON on, limiter off, loopback only, secret from the host."""

from __future__ import annotations

from homelab.daemons import Daemon
from homelab.model import Platform
from homelab.model.base import DebianPackage
from homelab.render.engine import render
from homelab.render.files import HostFile, config_of


def files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    sx = platform.mini.searxng
    # Debian's searx has no defaults to build on: its settings file is complete.
    template = (
        "searxng/searx-settings.yml.j2"
        if isinstance(sx.source, DebianPackage)
        else "searxng/settings.yml.j2"
    )
    return [
        HostFile(
            path=config_of(daemon),
            content=render(template, searxng=sx, listener=sx.listener),
            group=daemon.user,
            mode="0640",
            restarts=(daemon.name,),
        )
    ]
