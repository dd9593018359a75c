"""The Studio: MLX servers, OptiLLM local instances, AFM (launchd on macOS, systemd in the lab)."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.afm import deploy_afm
from deploys.host import prepare
from deploys.mlx import deploy_mlx
from deploys.optillm_local import deploy_optillm_local
from homelab.model import Platform


@deploy("The Studio")
def deploy_studio(platform: Platform) -> None:
    tools = prepare(platform, "studio")
    deploy_mlx(platform=platform, tools=tools)
    deploy_optillm_local(platform=platform, tools=tools)
    deploy_afm(platform=platform, tools=tools)
