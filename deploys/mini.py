"""The Mini: the gateway and the services around it, in the order they depend on each other."""

from __future__ import annotations

from pyinfra.api import deploy

from deploys.host import platform_directories, secret_store
from deploys.litellm import deploy_litellm
from deploys.open_webui import deploy_open_webui
from deploys.optillm import deploy_optillm
from deploys.ov_server import deploy_ov_server
from deploys.searxng import deploy_searxng
from deploys.toolchain import install_toolchain
from homelab.model import Platform


@deploy("The Mini")
def deploy_mini(platform: Platform) -> None:
    mini = platform.mini
    platform_directories(platform, "mini")
    secret_store(platform, "mini")
    tools = install_toolchain(mini.layout, mini.toolchain, mini.os, packages=[])
    deploy_searxng(platform, tools)
    deploy_ov_server(platform, tools)
    deploy_litellm(platform, tools)
    deploy_optillm(platform, tools)
    deploy_open_webui(platform, tools)
