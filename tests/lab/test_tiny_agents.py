"""Tiny Agents on the lab's Mini: after a deploy, huggingface_hub's own loader reads the
rendered ``agent.json`` and its ``Agent`` starts every MCP server the registry names and lists
their tools (no model is called: listing needs none)."""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

import pytest

from homelab.load import load_platform
from homelab.model import Platform
from homelab.services.litellm import gateway_url
from homelab.services.mcp_tools import agent_command, agent_dir, agent_model, install_of
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


@pytest.fixture(scope="module")
def lab_platform() -> Platform:
    platform = load_platform(LAB_INVENTORY)
    if not platform.mini.tiny_agents.enabled:
        pytest.skip("the lab's data leaves Tiny Agents off")
    return platform


@pytest.fixture(scope="module")
def loaded(lab: dict[str, Any], lab_platform: Platform) -> dict[str, Any]:
    deploy()
    (tool,) = lab_platform.mini.mcp_tools  # Tiny Agents runs as the tools' user
    user = install_of(lab_platform, tool).user
    python = f"{lab_platform.mini.layout.venv('tiny-agents')}/bin/python"
    agent_json = f"{agent_dir(lab_platform)}/agent.json"
    result = ssh(
        "mini",
        f"cd / && runuser -u {user} -- {python} -c {shlex.quote(LIST_TOOLS)} {agent_json}",
        timeout=120,
    )
    assert result.returncode == 0, f"tiny-agents: {result.stderr[-2000:]}"
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def test_the_config_is_the_models(loaded: dict[str, Any], lab_platform: Platform) -> None:
    config = loaded["config"]
    assert config["model"] == agent_model(lab_platform)
    assert config["endpointUrl"] == gateway_url(lab_platform)
    commands = [server["command"] for server in config["servers"]]
    assert commands == [install_of(lab_platform, t).command for t in lab_platform.mini.mcp_tools]


def test_the_agent_lists_every_tool_of_the_registry(
    loaded: dict[str, Any], lab_platform: Platform
) -> None:
    registry = json.loads(ssh("mini", f"cat {lab_platform.mini.mcp_registry_path}").stdout or "{}")
    wanted = sorted(name for server in registry["servers"] for name in server["tools"])
    assert wanted, "the registry names no tool"
    assert sorted(loaded["tools"]) == wanted


def test_the_program_is_installed(loaded: dict[str, Any], lab_platform: Platform) -> None:
    result = ssh("mini", f"{agent_command(lab_platform)} --help")
    assert result.returncode == 0 and "run" in result.stdout, result.stderr
