"""The Studio: MLX servers, OptiLLM local instances, AFM (launchd on macOS, systemd in the lab)."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.afm import deploy_afm
from deploys.host import platform_directories, secret_store
from deploys.mlx import deploy_mlx
from deploys.optillm_local import deploy_optillm_local
from deploys.toolchain import install_toolchain, tools_for
from homelab.model import Platform


@deploy("The Studio")
def deploy_studio(platform: Platform) -> None:
    studio = platform.studio
    platform_directories(platform=platform, role="studio")
    secret_store(platform=platform, role="studio")
    install_toolchain(layout=studio.layout, toolchain=studio.toolchain, os=studio.os, packages=[])
    tools = tools_for(studio.layout, studio.toolchain, studio.os)
    deploy_mlx(platform=platform, tools=tools)
    deploy_optillm_local(platform=platform, tools=tools)
    deploy_afm(platform=platform, tools=tools)
