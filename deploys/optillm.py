"""The OptiLLM proxy: loopback only, the gateway its only provider."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.model import Platform
from homelab.services import ServiceModule


@deploy("OptiLLM proxy")
def deploy_optillm(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    ServiceDeploy.of(platform, service, tools).run()
