"""MCP tools on the Mini: stdio servers an MCP client starts, listed in the MCP registry.

They run no daemon; the file is ``/etc/homelab-llm/mcp-registry.json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from homelab.model.base import Frozen, Name
from homelab.render.files import HostFile, json_file
from homelab.services.base import ServiceModule
from homelab.services.litellm import search_url

if TYPE_CHECKING:
    from homelab.model.platform import Platform


class McpTool(Frozen):
    """An MCP stdio server listed in the MCP registry (run by an MCP client, not a service)."""

    name: Name
    command: tuple[str, ...] = Field(min_length=1)
    tools: tuple[str, ...] = Field(min_length=1)
    description: str


def registry(platform: Platform) -> dict[str, object]:
    return {
        "servers": {
            tool.name: {
                "transport": "stdio",
                "description": tool.description,
                "command": list(tool.command),
                "tools": list(tool.tools),
                "env": {"LITELLM_SEARCH_URL": search_url(platform)},
                # By reference: the client passes the gateway key from its own environment.
                "env_from": [platform.gateway.proxy_key.env],
            }
            for tool in platform.mini.mcp_tools
        }
    }


class McpToolsService(ServiceModule):
    name = "mcp-tools"
    role = "mini"

    @property
    def deploy(self) -> str | None:
        return None  # the tools are not built yet: no registry may point at them

    def shared_files(self, platform: Platform) -> list[HostFile]:
        return [json_file(platform.mini.mcp_registry_path, registry(platform))]


SERVICE = McpToolsService()
