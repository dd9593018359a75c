"""The typed model of the platform (pydantic v2, frozen, unknown keys refused).

The hosts and the rules that span them are here; each service's options live with the rest of
the service in ``homelab/services/<service>.py`` and are re-exported here for convenience.
"""

from homelab.model.base import ROLES, Exposure, Frozen, GitSource, Listener, Role, SecretRef
from homelab.model.common import Layout, PythonPackage, Service, Toolchain
from homelab.model.gateway import Gateway, OptHandle, RouterSettings
from homelab.model.hosts import MiniHost, StorageRoot, StudioHost
from homelab.model.naming import Backend, Technique
from homelab.model.platform import Platform
from homelab.model.routing import Route, routes
from homelab.services.afm import Afm
from homelab.services.litellm import LiteLLM
from homelab.services.mcp_tools import McpTool
from homelab.services.mlx import MlxModel, MlxServers
from homelab.services.open_webui import OpenWebUI
from homelab.services.optillm import OptillmProxy
from homelab.services.optillm_local import OptillmLocal
from homelab.services.ov_server import OvModel, OvServer
from homelab.services.searxng import Searxng

__all__ = [
    "ROLES",
    "Afm",
    "Backend",
    "Exposure",
    "Frozen",
    "Gateway",
    "GitSource",
    "Layout",
    "Listener",
    "LiteLLM",
    "McpTool",
    "MiniHost",
    "MlxModel",
    "MlxServers",
    "OpenWebUI",
    "OptHandle",
    "OptillmLocal",
    "OptillmProxy",
    "OvModel",
    "OvServer",
    "Platform",
    "PythonPackage",
    "Role",
    "Route",
    "RouterSettings",
    "Searxng",
    "SecretRef",
    "Service",
    "StorageRoot",
    "StudioHost",
    "Technique",
    "Toolchain",
    "routes",
]
