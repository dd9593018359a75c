"""/etc/homelab-llm/mcp-registry.json: the MCP stdio tools an MCP client may start."""

from __future__ import annotations

from homelab.model import Platform
from homelab.model.base import LOOPBACK
from homelab.render.files import HostFile, json_file


def registry(platform: Platform) -> dict[str, object]:
    gateway = platform.mini.litellm.listener
    search = f"http://{LOOPBACK}:{gateway.port}/v1/search/{platform.gateway.search_tool}"
    return {
        "servers": {
            tool.name: {
                "transport": "stdio",
                "description": tool.description,
                "command": list(tool.command),
                "tools": list(tool.tools),
                "env": {"LITELLM_SEARCH_URL": search},
                # By reference: the client passes the gateway key from its own environment.
                "env_from": [platform.gateway.proxy_key.env],
            }
            for tool in platform.mini.mcp_tools
        }
    }


def files(platform: Platform) -> list[HostFile]:
    return [json_file(platform.mini.mcp_registry_path, registry(platform))]
