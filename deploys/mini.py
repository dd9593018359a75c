"""The Mini: the gateway and the services around it, in the order they depend on each other."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.host import platform_directories, secret_store
from deploys.litellm import deploy_litellm
from deploys.open_webui import deploy_open_webui
from deploys.optillm import deploy_optillm
from deploys.ov_server import deploy_ov_server
from deploys.searxng import deploy_searxng
from deploys.toolchain import install_toolchain, tools_for
from homelab.model import Platform


@deploy("The Mini")
def deploy_mini(platform: Platform) -> None:
    mini = platform.mini
    platform_directories(platform=platform, role="mini")
    secret_store(platform=platform, role="mini")
    install_toolchain(layout=mini.layout, toolchain=mini.toolchain, os=mini.os, packages=[])
    tools = tools_for(mini.layout, mini.toolchain, mini.os)
    deploy_searxng(platform=platform, tools=tools)
    deploy_ov_server(platform=platform, tools=tools)
    deploy_litellm(platform=platform, tools=tools)
    deploy_optillm(platform=platform, tools=tools)
    deploy_open_webui(platform=platform, tools=tools)
