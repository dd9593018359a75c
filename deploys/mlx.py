"""MLX servers: one venv for all on a host, one daemon per registry entry with a port."""

from __future__ import annotations

from collections.abc import Mapping

from pyinfra.api.operation import OperationMeta

from deploys.accounts import service_account
from deploys.budget import refuse_what_cannot_fit
from deploys.files import put
from deploys.installs import virtualenv
from deploys.loops import each
from deploys.service import Deployer, ServiceDeploy, deploys
from deploys.state import directory
from deploys.toolchain import Tools
from deploys.weights import fetch, refuse_unfetchable
from homelab.model import Platform
from homelab.services.mlx import MlxService


def hub_dirs(platform: Platform, host: str) -> tuple[str, ...]:
    """The hub cache's folders, which mlx_lm.server's /v1/models needs to exist."""
    hf_home = platform.host(host).hf_home
    return (hf_home, f"{hf_home}/hub") if hf_home else ()


@deploys(MlxService)
class MlxDeployer(Deployer):
    """The shared install (account, venv, hub cache, registry), then each server.

    A server restarts only on a change of its own inputs: its unit, the shared venv, the
    account, its own model's files. ``registry.json`` is not one: ``mlx_lm.server`` is given
    its model's folder and never reads the registry, so adding, moving or dropping one model
    rewrites the registry and restarts no other server.
    """

    title = "MLX servers"
    service: MlxService

    def owner(self, platform: Platform, host: str) -> str:
        owner = platform.host(host).run_as
        assert owner is not None  # the data's rules: a host serving MLX states run_as
        return owner

    def group(self, platform: Platform, host: str) -> str:
        return platform.host(host).os.staff_group or self.owner(platform, host)

    def refuse(self, platform: Platform, host: str) -> None:
        mlx = self.service.on(platform, host)
        if mlx is not None:
            # Weights to come from the hub: can they come, do they fit (sizes before bytes)?
            coming = refuse_unfetchable(platform, host, self.service.fetches(platform, host))
            refuse_what_cannot_fit(platform, host, mlx, coming)

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        marks = tuple(f.complete_mark for f in self.service.fetches(platform, host))
        return (*hub_dirs(platform, host), *marks)

    def run(self, platform: Platform, host: str, tools: Tools) -> None:
        shared = self.install(platform, host, tools)
        self.servers(platform, host, tools, shared, self.fetched(platform, host, tools))

    def fetched(
        self, platform: Platform, host: str, tools: Tools
    ) -> dict[int, list[OperationMeta]]:
        """The weights the hub brings, before their servers start, by port (a model the
        data fetches; the operator puts the others in place)."""
        owner, group = self.owner(platform, host), self.group(platform, host)
        return fetch(platform, host, self.service.fetches(platform, host), owner, group, tools)

    def install(self, platform: Platform, host: str, tools: Tools) -> list[OperationMeta]:
        """What the servers share: the account, the venv, the hub cache (nothing without one)."""
        servers = self.service.daemons(platform, host)
        shared: list[OperationMeta] = []
        if servers:
            first = servers[0]
            shared += service_account(first, home=platform.host(host).layout.state)
            shared += virtualenv(first, tools)
            # mlx_lm.server's /v1/models scans the hub cache and fails when it is missing.
            owner, group = self.owner(platform, host), self.group(platform, host)
            for path in hub_dirs(platform, host):
                directory(path, owner, group, "0755")
        return shared

    def servers(
        self,
        platform: Platform,
        host: str,
        tools: Tools,
        shared: list[OperationMeta],
        own: Mapping[int, list[OperationMeta]] | None = None,
    ) -> None:
        """The registry, then each server; ``own`` holds a server's own changes, by its port
        (its fetched weights)."""
        for f in self.service.shared_files(platform, host):
            put(f)  # the canonical record, for people and tools: no running server reads it
        for daemon in each(self.service.daemons(platform, host)):
            changes = [*shared, *(own or {}).get(daemon.listener.port, [])]
            ServiceDeploy(platform, self.service, daemon, tools, shared=changes).run_configured()
