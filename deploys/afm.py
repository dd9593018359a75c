"""AFM on the Studio: planned, off by default; its plist is placed and kept unloaded."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.daemons import daemon_named
from homelab.model import Platform


@deploy("AFM")
def deploy_afm(platform: Platform, tools: Tools) -> None:
    ServiceDeploy(platform, daemon_named(platform, "studio", "afm"), tools).run()
