"""SearXNG: loopback only, JSON on; Debian's searx where the data names that substitute."""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import apt

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.daemons import daemon_named
from homelab.model import Platform
from homelab.model.base import DebianPackage


class SearxngDeploy(ServiceDeploy):
    def install(self) -> None:
        super().install()
        source = self.daemon.source
        if self.daemon.enabled and isinstance(source, DebianPackage):
            op: OperationMeta = apt.packages(
                name=f"Debian package {source.package}", packages=[source.package]
            )
            self.changes.append(op)


@deploy("SearXNG")
def deploy_searxng(platform: Platform, tools: Tools) -> None:
    SearxngDeploy(platform, daemon_named(platform, "mini", "searxng"), tools).run()
