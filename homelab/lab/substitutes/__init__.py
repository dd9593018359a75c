"""The lab's substitutes: services that run differently in the lab than on the real hosts.

Each subclasses the real service's module and overrides only what differs, so the lab goes
through the same interface, the same deploy steps and the same checks as the real hosts:

- SearXNG runs as Debian's ``searx`` 1.1.0, its predecessor: SearXNG installs from its git
  repository, which cannot be reached here;
- ov-server runs as a minimal stand-in serving its documented API (``lab/standins/ov-server``):
  it is the operator's own app, in no registry;
- Open WebUI runs offline: the lab has no model hub and no internet to load pages from;
- the MLX servers serve tiny random-weight models made on the host: no model hub is reachable;
- so do the llama.cpp servers (the real server, built on the host), tiny GGUF files;
- the hub mirror (the real olah, offline) serves tiny models the lab makes on its host.

``lab/group_data/all.py`` applies them (:func:`for_lab`); production code never names them.
"""

from __future__ import annotations

from homelab.lab.substitutes.hub_mirror import SeededHubMirror
from homelab.lab.substitutes.llama_cpp import TinyLlamaCpp
from homelab.lab.substitutes.mlx import TinyMlx
from homelab.lab.substitutes.open_webui import OfflineOpenWebUI
from homelab.lab.substitutes.ov_server import OvServerStandIn
from homelab.lab.substitutes.searx import SearxFromDebian
from homelab.model import Platform

SUBSTITUTES = (
    SearxFromDebian(),
    OvServerStandIn(),
    OfflineOpenWebUI(),
    TinyMlx(),
    TinyLlamaCpp(),
    SeededHubMirror(),
)


def for_lab(platform: Platform) -> Platform:
    """``platform`` with the lab's substitutes in place."""
    return platform.substituting(*SUBSTITUTES)


__all__ = ["SUBSTITUTES", "for_lab"]
