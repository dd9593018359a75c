"""The node exporter on every host: the package, then the platform's unit."""

from __future__ import annotations

from deploys.loops import each
from deploys.service import Deployer, ServiceDeploy, deploys
from deploys.toolchain import Tools
from homelab.model import Platform
from homelab.services.node_exporter import NodeExporterService


@deploys(NodeExporterService)
class NodeExporterDeployer(Deployer):
    title = "Node exporter"

    def run(self, platform: Platform, host: str, tools: Tools) -> None:
        # The default's loop, called from here: pyinfra names an operation by its call stack,
        # and this service runs on hosts whose other services take other paths (a Mac's MLX
        # servers). Its operations, named apart from theirs, keep one order on every host.
        for daemon in each(self.service.daemons(platform, host)):
            ServiceDeploy(platform, self.service, daemon, tools).run()
