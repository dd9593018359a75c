"""MCP tools: stdio servers an MCP client starts, listed in the MCP registry.

A tool is a package of this project (``tools/<name>/``, console script ``<name>``), installed
into a venv of its own (``Layout.venv("mcp-<name>")``) from its lock, run as a system user of
its own. It runs no daemon: a client (Tiny Agents) starts it as the registry says,
``/etc/homelab-llm/mcp-registry.json`` in upstream's shape (``version``, ``servers``: name,
purpose, transport, command, args, env (names only), tools, notes). The values of ``env`` are
in the tool's env file (``/etc/homelab-llm/mcp-<name>.env``); the gateway key is not among
them: the tool reads it from a 0600 file only its user can read (``WEB_FETCH_ENV_FILE``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, get_args

from pydantic import Field, IPvAnyNetwork
from web_fetch.config import ALLOW_NETWORKS_ENV, ENV_FILE_ENV, PROXY_KEY_ENV, SEARCH_URL_ENV

from homelab import PROJECT_ROOT
from homelab.model.base import AbsPath, Bool, Frozen, SecretRef
from homelab.model.common import Layout, PythonPackage
from homelab.render.engine import render
from homelab.render.files import HostFile, json_file
from homelab.services.base import ServiceModule
from homelab.services.litellm import gateway_url, reaches_gateway, search_url

if TYPE_CHECKING:
    from pathlib import Path

    from homelab.model.platform import Platform

#: The MCP tools this project builds: each a package in ``tools/<name>/``.
ToolName = Literal["web-fetch"]
TOOL_NAMES: tuple[str, ...] = get_args(ToolName)
#: The upstream registry's format version.
REGISTRY_VERSION = 1


class McpTool(Frozen):
    """An MCP stdio server of this project, installed on its host and listed in the registry."""

    name: ToolName = Field(description="the package in tools/<name>/; its console script")
    purpose: str
    tools: tuple[str, ...] = Field(min_length=1, description="the MCP tools it serves")
    notes: str = ""
    allow_networks: tuple[IPvAnyNetwork, ...] = Field(
        default=(),
        description="non-public networks web.fetch may reach (LAN pages); none by default",
    )


class TinyAgents(Frozen):
    """Tiny Agents (huggingface_hub's ``tiny-agents``), the MCP client (off by default).

    When on, its host gets its venv (``Layout.venv("tiny-agents")``) and its config: an
    ``agent.json`` (the gateway as its endpoint, a handle, the registry's stdio servers) and an
    env file with ``TINYAGENTS_API_BASE`` and ``TINYAGENTS_MODEL``. It starts the tools itself,
    so it runs as the tools' user (their secrets files are that user's alone).
    """

    enabled: Bool = False
    model: str | None = Field(
        default=None,
        description="the gateway handle or alias it uses; unset: the first handle the gateway "
        "serves",
    )
    package: PythonPackage = PythonPackage(requirement="huggingface_hub[mcp]", version="2.4.0")


class McpTools(Frozen):
    """The host's MCP tools, the registry that lists them, and their client."""

    key: ClassVar[str] = "mcp_tools"
    registry_path: AbsPath = "/etc/homelab-llm/mcp-registry.json"
    tools: tuple[McpTool, ...] = ()
    tiny_agents: TinyAgents = TinyAgents()


@dataclass(frozen=True)
class Install:
    """Where a tool lives on its host, all derived from its name and the host's layout."""

    tool: str
    layout: Layout

    @property
    def name(self) -> str:
        """Its install, user and group: ``mcp-<name>``."""
        return f"mcp-{self.tool}"

    @property
    def user(self) -> str:
        return self.name

    @property
    def install_dir(self) -> str:
        return self.layout.install_dir(self.name)

    @property
    def venv(self) -> str:
        return self.layout.venv(self.name)

    @property
    def command(self) -> str:
        return f"{self.venv}/bin/{self.tool}"

    @property
    def home(self) -> str:
        return self.layout.state_dir(self.name)

    @property
    def config_dir(self) -> str:
        """root:<user> 0750: the secrets file inside is the tool's user's alone."""
        return self.layout.config_dir(self.name)

    @property
    def secrets_env(self) -> str:
        return f"{self.config_dir}/secrets.env"

    @property
    def env_file(self) -> str:
        """The values of the registry's ``env`` names (nothing secret)."""
        return f"{self.layout.etc}/{self.name}.env"

    @property
    def package_dir(self) -> Path:
        """The package's folder in this project."""
        return PROJECT_ROOT / "tools" / self.tool


def install_of(platform: Platform, host: str, tool: McpTool | str) -> Install:
    return Install(tool if isinstance(tool, str) else tool.name, platform.host(host).layout)


def requirements(tool: str) -> tuple[str, ...]:
    """The package's dependencies, as its pyproject.toml states them (its lock resolves them)."""
    with (PROJECT_ROOT / "tools" / tool / "pyproject.toml").open("rb") as handle:
        return tuple(tomllib.load(handle)["project"]["dependencies"])


def secrets(platform: Platform) -> dict[str, SecretRef]:
    """The tool's secret variables: the gateway key, for ``search.web``, under the variable
    the tool reads (``web_fetch.config``), whatever the data names the secret itself."""
    return {PROXY_KEY_ENV: platform.gateway.proxy_key}


def environment(platform: Platform, host: str, tool: McpTool) -> dict[str, str]:
    """The registry's ``env``: each name with its value for this tool on this platform."""
    return {
        SEARCH_URL_ENV: search_url(platform, seen_from=host),
        ALLOW_NETWORKS_ENV: ",".join(str(net) for net in tool.allow_networks),
        ENV_FILE_ENV: install_of(platform, host, tool).secrets_env,
    }


def tools_on(platform: Platform, host: str) -> McpTools:
    """The MCP tools ``host`` runs (none where its data places none)."""
    return platform.host(host).get(McpTools) or McpTools()


def registry(platform: Platform, host: str) -> dict[str, object]:
    """The MCP registry in upstream's shape; rendered whole, so a tool the data drops is gone."""
    servers = []
    for tool in tools_on(platform, host).tools:
        where = install_of(platform, host, tool)
        notes = f"Run as {where.user}; the values of env are in {where.env_file}."
        servers.append(
            {
                "name": tool.name,
                "purpose": tool.purpose,
                "transport": "stdio",
                "command": where.command,
                "args": [],
                "env": sorted(environment(platform, host, tool)),
                "tools": list(tool.tools),
                "notes": f"{tool.notes} {notes}".strip(),
            }
        )
    return {"version": REGISTRY_VERSION, "servers": servers}


def agent_model(platform: Platform, host: str) -> str:
    """The handle Tiny Agents asks the gateway for (the platform checks a named one exists)."""
    chosen = tools_on(platform, host).tiny_agents.model
    return chosen or next(h.handle for h in platform.handles())


#: Tiny Agents' name for the install, its venv and config folder.
TINY_AGENTS = "tiny-agents"


def key_input(platform: Platform) -> str:
    """The agent's input for the gateway key: tiny-agents asks for it at start, and an empty
    answer takes it from the variable of the same name (``LITELLM_PROXY_KEY``)."""
    return platform.gateway.proxy_key.env.lower().replace("_", "-")


def agent_config(platform: Platform, host: str) -> dict[str, object]:
    """Tiny Agents' ``agent.json``: the gateway as its endpoint, the registry's stdio servers.

    The gateway key is not in it: ``apiKey`` names an input, filled at start.
    """
    key = key_input(platform)
    return {
        "model": agent_model(platform, host),
        "endpointUrl": gateway_url(platform, seen_from=host),
        "apiKey": f"${{input:{key}}}",
        "inputs": [
            {
                "type": "promptString",
                "id": key,
                "description": "the gateway key",
                "password": True,
            }
        ],
        "servers": [
            {
                "type": "stdio",
                "command": install_of(platform, host, tool).command,
                "args": [],
                "env": environment(platform, host, tool),
            }
            for tool in tools_on(platform, host).tools
        ],
    }


def agent_dir(platform: Platform, host: str) -> str:
    return platform.host(host).layout.config_dir(TINY_AGENTS)


def agent_files(platform: Platform, host: str) -> list[HostFile]:
    """Tiny Agents' config and env file (``TINYAGENTS_API_BASE``, ``TINYAGENTS_MODEL``)."""
    folder = agent_dir(platform, host)
    env = {
        "TINYAGENTS_API_BASE": gateway_url(platform, seen_from=host),
        "TINYAGENTS_MODEL": agent_model(platform, host),
    }
    return [
        json_file(f"{folder}/agent.json", agent_config(platform, host)),
        HostFile(
            path=f"{folder}/tiny-agents.env",
            content=render("common/env.j2", title="Tiny Agents", env=env, secrets_env=None),
        ),
    ]


def tool_files(platform: Platform, host: str, tool: McpTool) -> list[HostFile]:
    """The tool's own file: the values of its registry ``env`` (nothing secret, world-readable:
    a client starts the tool with them)."""
    where = install_of(platform, host, tool)
    return [
        HostFile(
            path=where.env_file,
            content=render(
                "common/env.j2",
                title=f"MCP tool {tool.name}",
                env=environment(platform, host, tool),
                secrets_env=where.secrets_env,
            ),
        )
    ]


class McpToolsService(ServiceModule[McpTools]):
    name = "mcp-tools"
    options = McpTools

    def shared_files(self, platform: Platform, host: str) -> list[HostFile]:
        """Each tool's env file, then the registry that names them, then Tiny Agents' config."""
        mcp = self.on(platform, host)
        if mcp is None:
            return []
        out: list[HostFile] = []
        for tool in mcp.tools:
            out += tool_files(platform, host, tool)
        out.append(json_file(mcp.registry_path, registry(platform, host)))
        if mcp.tiny_agents.enabled:
            out += agent_files(platform, host)
        return out

    def placement_problems(self, platform: Platform) -> list[str]:
        return reaches_gateway(platform, McpTools)

    def problems(self, platform: Platform) -> list[str]:
        problems = []
        served = platform.client_names()
        for host, mcp in self.placed(platform):
            names = [tool.name for tool in mcp.tools]
            for i, name in enumerate(names):
                if name in names[:i]:
                    problems.append(
                        f"{host}.{self.key}.tools[{i}].name: {name!r} is listed twice "
                        "(rule: one registry entry per tool)"
                    )
            chosen = mcp.tiny_agents.model
            if chosen is not None and chosen not in served:
                problems.append(
                    f"{host}.{self.key}.tiny_agents.model: {chosen!r} is neither a handle nor "
                    "an alias (rule: Tiny Agents asks the gateway for a name it serves)"
                )
        return problems


SERVICE = McpToolsService()
