"""Open WebUI, pointed at the gateway, its data kept in its own state directory."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.daemons import daemon_named
from homelab.model import Platform


@deploy("Open WebUI")
def deploy_open_webui(platform: Platform, tools: Tools) -> None:
    ServiceDeploy(platform, daemon_named(platform, "mini", "open-webui"), tools).run()
