"""MLX servers on the Studio: one venv for all, one daemon per registry entry with a port."""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta

from deploys.state import directory, running
from deploys.steps import ServiceDeploy, put, service_account, virtualenv
from deploys.toolchain import Tools
from homelab.model import Platform
from homelab.services import Daemon, ServiceModule


def hub_dirs(platform: Platform) -> tuple[str, ...]:
    """The hub cache's folders, which mlx_lm.server's /v1/models needs to exist."""
    hf_home = platform.studio.hf_home
    return (hf_home, f"{hf_home}/hub")


def snapshot_paths(platform: Platform, service: ServiceModule) -> tuple[str, ...]:
    return hub_dirs(platform)


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
            for path in hub_dirs(self.platform):
                directory(path, owner, group, "0755")
            shared += self.models(first, owner, group)
        shared += running([put(f) for f in self.service.shared_files(self.platform)])
        for daemon in servers:
            ServiceDeploy(
                self.platform, self.service, daemon, self.tools, shared=shared
            ).run_configured()


@deploy("MLX servers")
def deploy_mlx(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    MlxDeploy(platform, service, tools).run()
