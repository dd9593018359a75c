"""ov-server's runtime environment and the registry of its converted models."""

from __future__ import annotations

from homelab.daemons import Daemon
from homelab.model import Platform
from homelab.render.files import HostFile, env_file, json_file


def registry_path(daemon: Daemon) -> str:
    return f"{daemon.config_dir}/registry.json"


def model_path(daemon: Daemon) -> str:
    return f"{daemon.state_dir}/models"


def environment(platform: Platform, daemon: Daemon) -> dict[str, str]:
    ov = platform.mini.ov_server
    return {
        "OV_DEVICE": ov.device,
        "OV_REGISTRY_PATH": registry_path(daemon),
        "OV_MODEL_PATH": model_path(daemon),
        "OV_LOG_LEVEL": ov.log_level,
    }


def registry(platform: Platform, daemon: Daemon) -> dict[str, object]:
    return {
        "models": {
            m.model_id: {
                "path": f"{model_path(daemon)}/{m.model_id}",
                "context_length": m.context_length,
            }
            for m in platform.mini.ov_server.models
        }
    }


def files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    ov = platform.mini.ov_server
    return [
        env_file(ov.env_file, "ov-server environment", environment(platform, daemon), daemon),
        json_file(registry_path(daemon), registry(platform, daemon), restarts=(daemon.name,)),
    ]
