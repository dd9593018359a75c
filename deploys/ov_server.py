"""ov-server: the operator's OpenVINO app, from its pinned source."""

from __future__ import annotations

from deploys.service import Deployer, deploys
from homelab.services.ov_server import OvServerService


@deploys(OvServerService)
class OvServerDeployer(Deployer):
    title = "ov-server"
