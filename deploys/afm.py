"""AFM: planned, off by default; its plist is placed and kept unloaded."""

from __future__ import annotations

from deploys.service import Deployer, deploys
from homelab.services.afm import AfmService


@deploys(AfmService)
class AfmDeployer(Deployer):
    title = "AFM"
