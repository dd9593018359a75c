"""The OptiLLM proxy: loopback only, the gateway its only provider."""

from __future__ import annotations

from deploys.service import Deployer, deploys
from homelab.services.optillm import OptillmService


@deploys(OptillmService)
class OptillmDeployer(Deployer):
    title = "OptiLLM proxy"
