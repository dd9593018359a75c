"""The node exporter on every host: the package, then the platform's unit (the default deploy)."""

from __future__ import annotations

from deploys.service import Deployer, deploys
from homelab.services.node_exporter import NodeExporterService


@deploys(NodeExporterService)
class NodeExporterDeployer(Deployer):
    title = "Node exporter"
