"""The two hosts: which services each runs, and the host-wide settings they share."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from homelab.model.base import AbsPath, Exposure, Frozen, Listener, Name, Port
from homelab.model.common import CPU_TORCH, Layout, PythonPackage, Service, Toolchain
from homelab.model.takeover import Takeover
from homelab.services.afm import Afm
from homelab.services.litellm import LiteLLM
from homelab.services.mcp_tools import McpTool, TinyAgents
from homelab.services.mlx import MlxModel, MlxServers, fill_paths
from homelab.services.open_webui import OpenWebUI
from homelab.services.optillm import OptillmProxy
from homelab.services.optillm_local import OptillmLocal
from homelab.services.ov_server import OvServer
from homelab.services.searxng import Searxng


class MiniHost(Frozen):
    """The Mini: Linux with systemd; the gateway and the services around it."""

    os: Literal["linux"] = "linux"
    layout: Layout = Layout()
    toolchain: Toolchain = Toolchain()
    litellm: LiteLLM = LiteLLM()
    ov_server: OvServer
    optillm: OptillmProxy = OptillmProxy()
    searxng: Searxng
    open_webui: OpenWebUI = OpenWebUI()
    mcp_registry_path: AbsPath = "/etc/homelab-llm/mcp-registry.json"
    mcp_tools: tuple[McpTool, ...] = ()
    #: The hand-built setup this host ran before: what the first deploy takes over.
    takeover: Takeover = Takeover()
    base_ports: dict[Port, str] = Field(
        default_factory=dict,
        description="ports the host's own system listens on besides sshd (the inventory's ssh "
        "port), each with what serves it: the verify suite counts any other port a leftover",
    )
    tiny_agents: TinyAgents = TinyAgents()

    def services(self) -> tuple[tuple[str, Service], ...]:
        """(field name, service) of each of the Mini's services, in declaration order."""
        return tuple((name, value) for name, value in self if isinstance(value, Service))


class StorageRoot(Frozen):
    """A place model files live. Showroom storage is on a host; backroom storage gets no handle."""

    name: Name
    path: AbsPath
    showroom: bool


class StudioHost(Frozen):
    """The Studio: macOS with launchd in production (Linux with systemd in the lab)."""

    os: Literal["darwin", "linux"] = "darwin"
    layout: Layout = Layout()
    toolchain: Toolchain = Toolchain(
        python="/opt/homebrew/bin/python3.11",
        platform="aarch64-apple-darwin",
        find_links=(),
        macos_version="15.0",
    )
    run_as: Name = Field(description="the account the Studio's model servers run as")
    hf_home: AbsPath
    mlx: MlxServers
    mlx_listener_reason: str = "the gateway on the Mini calls the MLX servers"
    optillm_local: tuple[OptillmLocal, ...] = ()
    # The seed pins transformers<5 for the router; optillm 0.4 needs transformers 5, so the
    # local instances stay on the last optillm release that works with transformers 4.
    optillm_local_package: PythonPackage = PythonPackage(
        requirement="optillm", version="0.3.20", also=("transformers<5",), linux_also=(CPU_TORCH,)
    )
    afm: Afm = Afm()
    #: The hand-built setup this host ran before: what the first deploy takes over.
    takeover: Takeover = Takeover()
    base_ports: dict[Port, str] = Field(
        default_factory=dict,
        description="ports the host's own system listens on besides sshd (the inventory's ssh "
        "port), each with what serves it: the verify suite counts any other port a leftover",
    )

    @model_validator(mode="before")
    @classmethod
    def _derive_model_paths(cls, data: Any) -> Any:
        if isinstance(data, dict) and "mlx" in data:
            return {**data, "mlx": fill_paths(data["mlx"], data.get("hf_home"))}
        return data

    def mlx_listener(self, model: MlxModel) -> Listener:
        assert model.port is not None
        return Listener(port=model.port, exposure=Exposure.LAN, lan_reason=self.mlx_listener_reason)
