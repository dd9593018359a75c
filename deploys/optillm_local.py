"""OptiLLM local-inference instances on the Studio (off by default): one venv, one daemon each."""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta

from deploys.steps import ServiceDeploy, service_account, virtualenv
from deploys.toolchain import Tools
from homelab.model import Platform
from homelab.services import ServiceModule


@deploy("OptiLLM local instances")
def deploy_optillm_local(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    instances = service.daemons(platform)
    enabled = [d for d in instances if d.enabled]
    shared: list[OperationMeta] = []
    if enabled:
        shared += service_account(enabled[0], home=platform.studio.layout.state)
        shared += virtualenv(enabled[0], tools)
    for daemon in instances:
        ServiceDeploy(platform, service, daemon, tools, shared=shared).run_configured()
