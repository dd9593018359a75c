"""The hub mirror (olah): its venv, its config, its daemon, the default way."""

from __future__ import annotations

from deploys.service import Deployer, deploys
from homelab.services.hub_mirror import HubMirrorService


@deploys(HubMirrorService)
class HubMirrorDeployer(Deployer):
    title = "Hugging Face hub mirror (olah)"
