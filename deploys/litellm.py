"""The LiteLLM proxy: the platform's one gateway."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.daemons import daemon_named
from homelab.model import Platform


@deploy("LiteLLM gateway")
def deploy_litellm(platform: Platform, tools: Tools) -> None:
    ServiceDeploy(platform, daemon_named(platform, "mini", "litellm"), tools).run()
