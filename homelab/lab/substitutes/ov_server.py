"""ov-server in the lab: a minimal stand-in serving its documented API, copied from this repo.

The real one is the operator's own app, in no registry. The stand-in (``lab/standins/ov-server``)
answers ``/health``, ``/v1/models`` and ``/v1/chat/completions`` for the models of the registry
the deploy renders; it is installed and run exactly as the real one, from a venv of the lab's
requirements (the data's ``requirements``), with the same unit, env file and registry.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from deploys.files import put
from deploys.service import Deployer, ServiceDeploy, deploys
from deploys.state import directory
from homelab import PROJECT_ROOT
from homelab.render.files import HostFile
from homelab.services.base import Daemon
from homelab.services.ov_server import OvServerService

if TYPE_CHECKING:
    from homelab.model.platform import Platform

STAND_IN = PROJECT_ROOT / "lab" / "standins" / "ov-server"
#: Seconds the stand-in takes to answer a model's first request after it starts, as the real
#: server loads (and compiles) a model then: what a warm-up profile spares the first user.
LOAD_SECONDS = 2.0


class OvServerStandIn(OvServerService):
    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        # Its code comes from this repository, not from the data's git source.
        return tuple(
            replace(
                d,
                source=None,
                environment={**d.environment, "OV_STANDIN_LOAD_SECONDS": str(LOAD_SECONDS)},
            )
            for d in super().daemons(platform, host)
        )


def stand_in_files(daemon: Daemon) -> list[HostFile]:
    """The stand-in's source files, where the real one's checkout would be."""
    return [
        HostFile(path=f"{daemon.source_dir}/{path.relative_to(STAND_IN)}", content=path.read_text())
        for path in sorted(STAND_IN.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


class StandInDeploy(ServiceDeploy):
    def install(self) -> None:
        super().install()
        if self.daemon.enabled:
            directory(self.daemon.source_dir, "root", "root", "0755")
            for f in stand_in_files(self.daemon):
                op = put(f)
                if op is not None:
                    self.changes.append(op)


@deploys(OvServerStandIn)
class StandInDeployer(Deployer):
    title = "ov-server (the lab's stand-in)"
    daemon_deploy = StandInDeploy

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        """The stand-in's files, for the deploy's one-round-trip snapshot."""
        daemons = self.service.daemons(platform, host)
        return (
            *(d.source_dir for d in daemons),
            *(f.path for d in daemons for f in stand_in_files(d)),
        )
