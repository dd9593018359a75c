"""AFM on the Studio: planned, off by default; its plist is placed and kept unloaded."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.model import Platform
from homelab.services import ServiceModule


@deploy("AFM")
def deploy_afm(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    ServiceDeploy.of(platform, service, tools).run()
