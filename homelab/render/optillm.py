"""OptiLLM's proxy_config.yaml, in its own user's home: the gateway as its only provider."""

from __future__ import annotations

from homelab.daemons import Daemon
from homelab.model import Platform
from homelab.model.base import LOOPBACK
from homelab.model.naming import ROUTER_PREFIX
from homelab.render.engine import render
from homelab.render.files import HostFile


def proxy_config_path(daemon: Daemon) -> str:
    return f"{daemon.environment['HOME']}/.optillm/proxy_config.yaml"


def model_map(platform: Platform) -> dict[str, str]:
    """Bare MLX names (what OptiLLM is left with) -> the gateway's internal router-* names."""
    return {m.model_id: ROUTER_PREFIX + m.model_id for m in platform.studio.mlx.served}


def files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    gateway = platform.mini.litellm.listener
    content = render(
        "optillm/proxy_config.yaml.j2",
        gateway_url=f"http://{LOOPBACK}:{gateway.port}/v1",
        key_env=platform.gateway.proxy_key.env,
        model_map=model_map(platform),
        timeout=platform.gateway.router.timeout,
    )
    return [
        HostFile(
            path=proxy_config_path(daemon),
            content=content,
            owner=daemon.user,
            group=daemon.user,
            mode="0600",
            restarts=(daemon.name,),
        )
    ]
