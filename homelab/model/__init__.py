"""The typed model of the platform (pydantic v2, frozen, unknown keys refused)."""

from homelab.model.base import Exposure, Frozen, GitSource, Listener, SecretRef
from homelab.model.gateway import Gateway, OptHandle, RouterSettings
from homelab.model.naming import Backend, Technique
from homelab.model.platform import ROLES, Platform, Role
from homelab.model.routing import Route, routes
from homelab.model.services import (
    Afm,
    Layout,
    LiteLLM,
    McpTool,
    MiniHost,
    MlxModel,
    MlxServers,
    OpenWebUI,
    OptillmLocal,
    OptillmProxy,
    OvModel,
    OvServer,
    PythonPackage,
    Searxng,
    Service,
    StorageRoot,
    StudioHost,
    Toolchain,
)

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
