"""MLX servers on the Studio: one venv for all, one daemon per registry entry with a port."""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta

from deploys.state import directory
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
    """The shared install (account, venv, hub cache, registry), then each server.

    A server restarts only on a change of its own inputs: its unit, the shared venv, the
    account, its own model's files. ``registry.json`` is not one: ``mlx_lm.server`` is given
    its model's folder and never reads the registry, so adding, moving or dropping one model
    rewrites the registry and restarts no other server.
    """

    def __init__(self, platform: Platform, service: ServiceModule, tools: Tools) -> None:
        self.platform = platform
        self.service = service
        self.tools = tools

    def models(self, first: Daemon, owner: str, group: str) -> dict[int, list[OperationMeta]]:
        """Operations that put each served model's files in place, by its port: none here,
        the operator does."""
        return {}

    def run(self) -> None:
        studio = self.platform.studio
        servers = self.service.daemons(self.platform)
        owner = studio.run_as
        shared: list[OperationMeta] = []
        own: dict[int, list[OperationMeta]] = {}
        if servers:
            first = servers[0]
            shared += service_account(first, home=studio.layout.state)
            shared += virtualenv(first, self.tools)
            group = "staff" if studio.os == "darwin" else owner
            # mlx_lm.server's /v1/models scans the hub cache and fails when it is missing.
            for path in hub_dirs(self.platform):
                directory(path, owner, group, "0755")
            own = self.models(first, owner, group)
        for f in self.service.shared_files(self.platform):
            put(f)  # the canonical record, for people and tools: no running server reads it
        for daemon in servers:
            changes = [*shared, *own.get(daemon.listener.port, [])]
            ServiceDeploy(
                self.platform, self.service, daemon, self.tools, shared=changes
            ).run_configured()


@deploy("MLX servers")
def deploy_mlx(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    MlxDeploy(platform, service, tools).run()
