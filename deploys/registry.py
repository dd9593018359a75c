"""Every service's deployer, registered by importing its module; and the ones of a host."""

from __future__ import annotations

from deploys import (  # noqa: F401  (each module registers its deployer)
    afm,
    hub_mirror,
    litellm,
    llama_cpp,
    mcp_tools,
    mlx,
    monitoring,
    node_exporter,
    open_webui,
    optillm,
    optillm_local,
    ov_server,
    searxng,
)
from deploys.service import Deployer, deployer_for
from homelab.model import Platform


def deployers(platform: Platform, host: str) -> tuple[list[Deployer], list[Deployer]]:
    """The deployers of the services ``host`` runs, in deploy order, and of those it does not."""
    mine = platform.modules(host)
    placed = [deployer_for(s) for s in mine]
    absent = [deployer_for(s) for s in platform.modules() if s not in mine]
    return placed, absent
