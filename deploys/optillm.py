"""The OptiLLM proxy: loopback only, the gateway its only provider."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.daemons import daemon_named
from homelab.model import Platform


@deploy("OptiLLM proxy")
def deploy_optillm(platform: Platform, tools: Tools) -> None:
    ServiceDeploy(platform, daemon_named(platform, "mini", "optillm"), tools).run()
