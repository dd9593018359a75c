"""ov-server: the operator's OpenVINO app, from its pinned source."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.model import Platform
from homelab.services import ServiceModule


@deploy("ov-server")
def deploy_ov_server(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    ServiceDeploy.of(platform, service, tools).run()
