"""ov-server in the lab: a minimal stand-in serving its documented API, copied from this repo.

The real one is the operator's own app, in no registry. The stand-in (``lab/standins/ov-server``)
answers ``/health``, ``/v1/models`` and ``/v1/chat/completions`` for the models of the registry
the deploy renders; it is installed and run exactly as the real one, from a venv of the lab's
requirements (the data's ``requirements``), with the same unit, env file and registry.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pyinfra.api.deploy import deploy
from pyinfra.operations import files

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.services.base import Daemon
from homelab.services.ov_server import OvServerService

if TYPE_CHECKING:
    from homelab.model.platform import Platform
    from homelab.services.base import ServiceModule

STAND_IN = PROJECT_ROOT / "lab" / "standins" / "ov-server"


class OvServerStandIn(OvServerService):
    @property
    def deploy(self) -> str | None:
        return f"{__name__}:deploy_ov_server_stand_in"

    def daemons(self, platform: Platform) -> tuple[Daemon, ...]:
        # Its code comes from this repository, not from the data's git source.
        return tuple(replace(d, source=None) for d in super().daemons(platform))


class StandInDeploy(ServiceDeploy):
    def install(self) -> None:
        super().install()
        if self.daemon.enabled:
            self.changes.append(
                files.sync(
                    name=f"Copy the ov-server stand-in to {self.daemon.source_dir}",
                    src=str(STAND_IN),
                    dest=self.daemon.source_dir,
                    delete=True,
                    exclude=["__pycache__", "*.pyc"],
                )
            )


@deploy("ov-server (the lab's stand-in)")
def deploy_ov_server_stand_in(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    StandInDeploy.of(platform, service, tools).run()
