"""Open WebUI's environment (/etc/open-webui/env, as in the seed)."""

from __future__ import annotations

from homelab.daemons import Daemon
from homelab.model import Platform
from homelab.model.base import LOOPBACK
from homelab.render.files import HostFile, env_file


def environment(platform: Platform, daemon: Daemon) -> dict[str, str]:
    ow = platform.mini.open_webui
    gateway = platform.mini.litellm.listener
    env = {
        # Its default DATA_DIR is inside the installed package: lost on upgrade.
        "DATA_DIR": daemon.state_dir,
        "OPENAI_API_BASE_URL": f"http://{LOOPBACK}:{gateway.port}/v1",
        "ENABLE_OLLAMA_API": "False",
        # Settings are stored in its database at first boot; this keeps the env in charge.
        "ENABLE_PERSISTENT_CONFIG": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
    }
    if ow.offline:
        env |= {"OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1"}
    return env


def files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    ow = platform.mini.open_webui
    return [env_file(ow.env_file, "Open WebUI environment", environment(platform, daemon), daemon)]
