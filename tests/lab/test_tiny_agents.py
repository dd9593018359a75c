"""Tiny Agents on each lab host whose data turns it on (the Mini's MCP tools): after a deploy,
huggingface_hub's own loader reads the rendered ``agent.json`` and its ``Agent`` starts every
MCP server the registry names and lists their tools (no model is called: listing needs none)."""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

import pytest

from homelab.load import load_platform
from homelab.model import Platform
from homelab.services import mcp_tools
from homelab.services.litellm import gateway_url
from homelab.services.mcp_tools import TINY_AGENTS, agent_dir, agent_model, install_of, tools_on
from tests.lab.conftest import LAB_INVENTORY, deploy, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

#: Run in Tiny Agents' venv: the CLI's own steps up to the prompt (load the config, build the
#: agent, load its tools), then the tools' names as JSON.
LIST_TOOLS = """
import asyncio, json, sys
from huggingface_hub import Agent
from huggingface_hub.inference._mcp.utils import _load_agent_config

async def main():
    config, _prompt = _load_agent_config(sys.argv[1])
    async with Agent(
        model=config["model"], base_url=config["endpointUrl"], servers=config["servers"]
    ) as agent:
        await agent.load_tools()
        names = [tool.function.name for tool in agent.available_tools]
    print(json.dumps({"config": config, "tools": names}))

asyncio.run(main())
"""


PLATFORM = load_platform(LAB_INVENTORY)
#: The hosts whose data turns Tiny Agents on (beside their MCP tools).
AGENT_HOSTS: list[str | None] = [
    host for host, tools in mcp_tools.SERVICE.placed(PLATFORM) if tools.tiny_agents.enabled
]


@pytest.fixture(scope="module")
def lab_platform() -> Platform:
    return PLATFORM


@pytest.fixture(scope="module", params=AGENT_HOSTS or [None])
def agent_host(request: pytest.FixtureRequest) -> str:
    host: str | None = request.param
    if host is None:
        pytest.skip("the lab's data leaves Tiny Agents off")
    return host


@pytest.fixture(scope="module")
def loaded(lab: dict[str, Any], lab_platform: Platform, agent_host: str) -> dict[str, Any]:
    deploy()
    (tool,) = tools_on(lab_platform, agent_host).tools  # Tiny Agents runs as the tools' user
    user = install_of(lab_platform, agent_host, tool).user
    python = f"{lab_platform.host(agent_host).layout.venv(TINY_AGENTS)}/bin/python"
    agent_json = f"{agent_dir(lab_platform, agent_host)}/agent.json"
    result = ssh(
        agent_host,
        f"cd / && runuser -u {user} -- {python} -c {shlex.quote(LIST_TOOLS)} {agent_json}",
        timeout=120,
    )
    assert result.returncode == 0, f"tiny-agents: {result.stderr[-2000:]}"
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def test_the_config_is_the_models(
    loaded: dict[str, Any], lab_platform: Platform, agent_host: str
) -> None:
    config = loaded["config"]
    assert config["model"] == agent_model(lab_platform, agent_host)
    assert config["endpointUrl"] == gateway_url(lab_platform, seen_from=agent_host)
    commands = [server["command"] for server in config["servers"]]
    tools = tools_on(lab_platform, agent_host).tools
    assert commands == [install_of(lab_platform, agent_host, t).command for t in tools]


def test_the_agent_lists_every_tool_of_the_registry(
    loaded: dict[str, Any], lab_platform: Platform, agent_host: str
) -> None:
    path = tools_on(lab_platform, agent_host).registry_path
    registry = json.loads(ssh(agent_host, f"cat {path}").stdout or "{}")
    wanted = sorted(name for server in registry["servers"] for name in server["tools"])
    assert wanted, "the registry names no tool"
    assert sorted(loaded["tools"]) == wanted


def test_the_program_is_installed(
    loaded: dict[str, Any], lab_platform: Platform, agent_host: str
) -> None:
    program = f"{lab_platform.host(agent_host).layout.venv(TINY_AGENTS)}/bin/{TINY_AGENTS}"
    result = ssh(agent_host, f"{program} --help")
    assert result.returncode == 0 and "run" in result.stdout, result.stderr
