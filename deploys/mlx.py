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
            for path in (studio.hf_home, f"{studio.hf_home}/hub"):
                files.directory(name=f"Directory {path}", path=path, user=owner, group=group)
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
