"""ov-server: the operator's OpenVINO app, from its pinned source."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.steps import ServiceDeploy
from deploys.toolchain import Tools
from homelab.daemons import daemon_named
from homelab.model import Platform


@deploy("ov-server")
def deploy_ov_server(platform: Platform, tools: Tools) -> None:
    ServiceDeploy(platform, daemon_named(platform, "mini", "ov-server"), tools).run()
