"""The Studio: MLX servers, OptiLLM local instances, AFM (launchd on macOS, systemd in the lab)."""

from __future__ import annotations

from pyinfra.api import deploy

from deploys.afm import deploy_afm
from deploys.host import platform_directories, secret_store
from deploys.mlx import deploy_mlx
from deploys.optillm_local import deploy_optillm_local
from deploys.toolchain import install_toolchain
from homelab.model import Platform


@deploy("The Studio")
def deploy_studio(platform: Platform) -> None:
    studio = platform.studio
    platform_directories(platform, "studio")
    secret_store(platform, "studio")
    tools = install_toolchain(studio.layout, studio.toolchain, studio.os, packages=[])
    deploy_mlx(platform, tools)
    deploy_optillm_local(platform, tools)
    deploy_afm(platform, tools)
