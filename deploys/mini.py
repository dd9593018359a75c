"""The Mini: the gateway and the services around it, in the order they depend on each other."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.host import prepare
from deploys.litellm import deploy_litellm
from deploys.open_webui import deploy_open_webui
from deploys.optillm import deploy_optillm
from deploys.ov_server import deploy_ov_server
from deploys.searxng import deploy_searxng
from homelab.model import Platform


@deploy("The Mini")
def deploy_mini(platform: Platform) -> None:
    tools = prepare(platform, "mini")
    deploy_searxng(platform=platform, tools=tools)
    deploy_ov_server(platform=platform, tools=tools)
    deploy_litellm(platform=platform, tools=tools)
    deploy_optillm(platform=platform, tools=tools)
    deploy_open_webui(platform=platform, tools=tools)
