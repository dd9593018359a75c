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
        # At each start it copies its frontend's static files into STATIC_DIR, by default
        # inside the package, which is read-only to it: every copy failed with an error line.
        "STATIC_DIR": f"{daemon.state_dir}/static",
        "OPENAI_API_BASE_URL": f"http://{LOOPBACK}:{gateway.port}/v1",
        "ENABLE_OLLAMA_API": "False",
        "WEBUI_ADMIN_EMAIL": ow.admin_email,
        # Settings are stored in its database at first boot; this keeps the env in charge.
        "ENABLE_PERSISTENT_CONFIG": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
    }
    search = f"http://{LOOPBACK}:{gateway.port}/v1/search/{platform.gateway.search_tool}"
    env |= {
        # Its perplexity_search engine speaks the gateway's search API: {query, max_results}
        # in, results[].url/title/snippet out.
        "ENABLE_WEB_SEARCH": "true",
        "WEB_SEARCH_ENGINE": "perplexity_search",
        "PERPLEXITY_SEARCH_API_URL": search,
        "WEB_SEARCH_RESULT_COUNT": str(platform.gateway.search_max_results),
    }
    if ow.offline:
        env |= {
            "OFFLINE_MODE": "true",
            "HF_HUB_OFFLINE": "1",
            # No hub: no embedding model to load, and search results are not fetched.
            "RAG_EMBEDDING_MODEL": "",
            "BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL": "true",
            "BYPASS_WEB_SEARCH_WEB_LOADER": "true",
        }
    return env


def files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    ow = platform.mini.open_webui
    return [env_file(ow.env_file, "Open WebUI environment", environment(platform, daemon), daemon)]
