"""The typed model of the platform (pydantic v2, frozen, unknown keys refused).

Hosts, the gateway's settings, the storage and the rules that span them are here, with the
contract every service fulfils (``service.py``) and the systems hosts run (``system.py``).
Each service's options live with the rest of the service in ``homelab/services/<service>.py``:
importing ``homelab.services`` registers them, so that a host's data may place them.
"""

from homelab.model.base import Exposure, Frozen, GitSource, Listener, SecretRef
from homelab.model.common import Layout, PythonPackage, Service, Toolchain
from homelab.model.gateway import Gateway, OptHandle, RouterSettings
from homelab.model.host import Host, StorageRoot
from homelab.model.naming import Backend, Technique
from homelab.model.platform import Platform, ServiceModule
from homelab.model.routing import Route
from homelab.model.service import Daemon, Handle, HostFile
from homelab.model.system import LINUX, MACOS, InitSystem, System

__all__ = [
    "LINUX",
    "MACOS",
    "Backend",
    "Daemon",
    "Exposure",
    "Frozen",
    "Gateway",
    "GitSource",
    "Handle",
    "Host",
    "HostFile",
    "InitSystem",
    "Layout",
    "Listener",
    "OptHandle",
    "Platform",
    "PythonPackage",
    "Route",
    "RouterSettings",
    "SecretRef",
    "Service",
    "ServiceModule",
    "StorageRoot",
    "System",
    "Technique",
    "Toolchain",
]
