"""OptiLLM local-inference instances (off by default): one venv, one daemon each."""

from __future__ import annotations

from deploys.service import SharedInstall, deploys
from homelab.services.optillm_local import OptillmLocalService


@deploys(OptillmLocalService)
class OptillmLocalDeployer(SharedInstall):
    title = "OptiLLM local instances"
