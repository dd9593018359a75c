"""Open WebUI in the lab: offline. No model hub and no internet are reachable from the lab."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homelab.services.base import Daemon
from homelab.services.open_webui import OpenWebUIService

if TYPE_CHECKING:
    from homelab.model.platform import Platform

OFFLINE = {
    "OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    # No hub: no embedding model to load, and search results are not fetched.
    "RAG_EMBEDDING_MODEL": "",
    "BYPASS_WEB_SEARCH_EMBEDDING_AND_RETRIEVAL": "true",
    "BYPASS_WEB_SEARCH_WEB_LOADER": "true",
}


class OfflineOpenWebUI(OpenWebUIService):
    def environment(self, platform: Platform, daemon: Daemon) -> dict[str, str]:
        return {**super().environment(platform, daemon), **OFFLINE}
