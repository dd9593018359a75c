"""What the services share: the host fields every daemon carries, the Python runtime's
hardening relaxations, and how a server takes its listener.

The contract itself (``Daemon``, ``ServiceModule``, ``HostFile``) is the model's:
``homelab/model/service.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from homelab.model.base import Listener
from homelab.model.common import Layout, Toolchain
from homelab.model.platform import ServiceModule
from homelab.model.service import Daemon, Handle, HostFile, Relax
from homelab.model.system import System

if TYPE_CHECKING:
    from homelab.model.platform import Platform

__all__ = [
    "PYTHON_RUNTIME",
    "Daemon",
    "Handle",
    "HostFields",
    "HostFile",
    "Relax",
    "ServiceModule",
    "common",
    "serve_on",
]

# Directives that break specific runtimes, said once with the reason.
_WX_MEMORY = Relax("no", "PyTorch/oneDNN and onnxruntime generate code at run time (W+X pages)")
_PROC_ALL = Relax("all", "reads /proc/cpuinfo and /proc/meminfo to size its thread pools")
#: What every Python service relaxes (each says why).
PYTHON_RUNTIME: dict[str, Relax] = {"MemoryDenyWriteExecute": _WX_MEMORY, "ProcSubset": _PROC_ALL}


def serve_on(listener: Listener) -> tuple[str, ...]:
    """``--host BIND --port PORT``, the way every server here takes its listener."""
    return ("--host", listener.bind, "--port", str(listener.port))


class HostFields(TypedDict):
    host: str
    layout: Layout
    system: System
    toolchain: Toolchain


def common(platform: Platform, host: str) -> HostFields:
    """The fields every daemon of a host shares."""
    h = platform.host(host)
    return HostFields(host=host, layout=h.layout, system=h.os, toolchain=h.toolchain)
