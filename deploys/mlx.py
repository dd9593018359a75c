"""MLX servers on the Studio: one venv for all, one daemon per registry entry with a port."""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from deploys.steps import ServiceDeploy, put, service_account, virtualenv
from deploys.toolchain import Tools
from homelab.model import Platform
from homelab.services import Daemon, ServiceModule


class MlxDeploy:
    """The shared install (account, venv, hub cache, registry), then each server."""

    def __init__(self, platform: Platform, service: ServiceModule, tools: Tools) -> None:
        self.platform = platform
        self.service = service
        self.tools = tools

    def models(self, first: Daemon, owner: str, group: str) -> list[OperationMeta]:
        """Operations that put the served models' files in place: none, the operator does."""
        return []

    def run(self) -> None:
        studio = self.platform.studio
        servers = self.service.daemons(self.platform)
        owner = studio.run_as
        shared: list[OperationMeta] = []
        if servers:
            first = servers[0]
            shared += service_account(first, home=studio.layout.state)
            shared += virtualenv(first, self.tools)
            group = "staff" if studio.os == "darwin" else owner
            # mlx_lm.server's /v1/models scans the hub cache and fails when it is missing.
            for path in (studio.hf_home, f"{studio.hf_home}/hub"):
                files.directory(name=f"Directory {path}", path=path, user=owner, group=group)
            shared += self.models(first, owner, group)
        shared += [put(f) for f in self.service.shared_files(self.platform)]
        for daemon in servers:
            ServiceDeploy(
                self.platform, self.service, daemon, self.tools, shared=shared
            ).run_configured()


@deploy("MLX servers")
def deploy_mlx(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    MlxDeploy(platform, service, tools).run()
