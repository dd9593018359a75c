"""The MCP tools' service: the registry in upstream's shape naming where the deploy installs
each tool, names (never values, never the key) in its ``env``, the allow-list from the data,
Tiny Agents' config rendered from the model, and a tool the data drops removed everywhere."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest
from web_fetch.config import ALLOW_NETWORKS_ENV, ENV_FILE_ENV, PROXY_KEY_ENV
from web_fetch.server import FETCH_TOOL, SEARCH_TOOL

from homelab import PROJECT_ROOT
from homelab.lab.config import load_config
from homelab.model import Platform
from homelab.render import HostFile, host_files
from homelab.services.litellm import gateway_url
from homelab.services.mcp_tools import agent_dir
from tests.fast.fakeplan import first, planned_commands
from tests.fast.parse import env as parse_env

#: The shape of upstream's registry (homelab-llm, platform/ops/templates/mcp-registry.json):
#: each field's name and type.
UPSTREAM = {"version": int, "servers": list}
UPSTREAM_SERVER = {
    "name": str,
    "purpose": str,
    "transport": str,
    "command": str,
    "args": list,
    "env": list,
    "tools": list,
    "notes": str,
}
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def mini_files(platform: Platform) -> dict[str, HostFile]:
    return {f.path: f for f in host_files(platform, "mini")}


def registry_of(platform: Platform) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        mini_files(platform)[platform.mini.mcp_registry_path].content
    )
    return data


def only_server(platform: Platform) -> dict[str, Any]:
    servers = registry_of(platform)["servers"]
    assert isinstance(servers, list) and len(servers) == 1, servers
    server: dict[str, Any] = servers[0]
    return server


def console_script(tool: str) -> str:
    """The package's own console script (its pyproject), independent of the service module."""
    with (PROJECT_ROOT / "tools" / tool / "pyproject.toml").open("rb") as handle:
        (script,) = tomllib.load(handle)["project"]["scripts"]
    assert isinstance(script, str)
    return script


def with_tiny_agents(platform: Platform, **options: object) -> Platform:
    mini = platform.mini.model_copy(
        update={"tiny_agents": platform.mini.tiny_agents.model_copy(update=options)}
    )
    return platform.model_copy(update={"mini": mini})


@pytest.mark.parametrize("which", ["real", "lab"])
def test_registry_has_upstreams_shape(
    which: str, platform: Platform, lab_platform: Platform
) -> None:
    data = registry_of(platform if which == "real" else lab_platform)
    assert {k: type(v) for k, v in data.items()} == UPSTREAM
    servers = data["servers"]
    assert isinstance(servers, list) and servers
    for server in servers:
        assert {k: type(v) for k, v in server.items()} == UPSTREAM_SERVER, server
        for field in ("args", "env", "tools"):
            assert all(isinstance(item, str) for item in server[field]), (field, server)
        assert server["transport"] == "stdio"


def test_registry_command_is_where_the_deploy_installs_the_tool(platform: Platform) -> None:
    server = only_server(platform)
    venv = platform.mini.layout.venv("mcp-web-fetch")
    assert server["command"] == f"{venv}/bin/{console_script('web-fetch')}"
    assert server["args"] == []
    assert server["tools"] == [FETCH_TOOL, SEARCH_TOOL]


def test_registry_env_is_names_whose_values_are_in_the_tools_env_file(
    platform: Platform,
) -> None:
    server = only_server(platform)
    assert all(ENV_NAME.match(name) for name in server["env"]), server["env"]
    assert PROXY_KEY_ENV not in server["env"]  # the key is never passed by a client
    env_path = f"{platform.mini.layout.etc}/mcp-web-fetch.env"
    f = mini_files(platform)[env_path]
    assert env_path in server["notes"]
    values = parse_env(f.content)
    assert sorted(values) == server["env"]
    secrets = values[ENV_FILE_ENV]
    assert secrets == f"{platform.mini.layout.config_dir('mcp-web-fetch')}/secrets.env"
    assert not secrets.startswith(platform.mini.layout.secrets)  # root-only: the tool reads it


def test_allow_list_is_none_by_default_and_the_lab_subnet_in_the_lab(
    platform: Platform, lab_platform: Platform
) -> None:
    def allowed(p: Platform) -> str:
        return parse_env(mini_files(p)[f"{p.mini.layout.etc}/mcp-web-fetch.env"].content)[
            ALLOW_NETWORKS_ENV
        ]

    assert allowed(platform) == ""
    assert allowed(lab_platform) == str(load_config().subnet)


def test_tiny_agents_is_off_and_rendered_from_the_model_when_on(platform: Platform) -> None:
    folder = agent_dir(platform)
    assert not any(p.startswith(folder) for p in mini_files(platform))

    on = with_tiny_agents(platform, enabled=True)
    files = mini_files(on)
    agent = json.loads(files[f"{folder}/agent.json"].content)
    served = [handle for handle, _backend, _path in on.handles()]
    assert agent["model"] == served[0]
    assert agent["endpointUrl"] == gateway_url(on)
    server = only_server(on)
    env_file = parse_env(files[f"{on.mini.layout.etc}/mcp-web-fetch.env"].content)
    assert agent["servers"] == [
        {"type": "stdio", "command": server["command"], "args": server["args"], "env": env_file}
    ]
    env = parse_env(files[f"{folder}/tiny-agents.env"].content)
    assert env == {"TINYAGENTS_API_BASE": gateway_url(on), "TINYAGENTS_MODEL": served[0]}

    chosen = with_tiny_agents(platform, enabled=True, model=served[-1])
    assert json.loads(mini_files(chosen)[f"{folder}/agent.json"].content)["model"] == served[-1]


def test_no_rendered_file_holds_the_gateway_key(platform: Platform) -> None:
    on = with_tiny_agents(platform, enabled=True)
    for f in mini_files(on).values():
        assert not re.search(rf"^\s*{PROXY_KEY_ENV}\s*=", f.content, re.M), f.path


# --- a tool the data drops -----------------------------------------------------------------

WITHOUT_TOOLS = """
from homelab import PROJECT_ROOT
from homelab.groupdata import siblings

__all__ = ["platform"]

_real = siblings(str(PROJECT_ROOT / "group_data" / "all.py"), "all")["all"]["platform"]
_agents = _real.mini.tiny_agents.model_copy(update={"enabled": True})
_mini = _real.mini.model_copy(update={"mcp_tools": (), "tiny_agents": _agents})
platform = _real.model_copy(update={"mini": _mini})
"""


def test_a_dropped_tool_is_named_nowhere(platform: Platform) -> None:
    mini = platform.mini.model_copy(update={"mcp_tools": ()})
    dropped = with_tiny_agents(platform.model_copy(update={"mini": mini}), enabled=True)
    files = mini_files(dropped)
    assert registry_of(dropped)["servers"] == []
    assert json.loads(files[f"{agent_dir(dropped)}/agent.json"].content)["servers"] == []
    assert not any("web-fetch" in f.path or "web-fetch" in f.content for f in files.values())


@pytest.fixture(scope="module")
def dropped_plan(tmp_path_factory: pytest.TempPathFactory, platform: Platform) -> list[str]:
    """The Mini's deploy from data without the tool, on a Mini where it is still installed."""
    folder = tmp_path_factory.mktemp("dropped")
    (folder / "group_data").mkdir()
    (folder / "group_data" / "all.py").write_text(WITHOUT_TOOLS)
    installed = platform.mini.layout.install_dir("mcp-web-fetch")
    stat = f"user=root group=root mode=drwxr-xr-x atime=0 mtime=0 ctime=0 size=4096 '{installed}'"
    return planned_commands(folder, "mini", {"mini": {f"test -e {installed} ||": stat}})


def test_the_deploy_removes_a_dropped_tool_after_the_registry_forgets_it(
    dropped_plan: list[str], platform: Platform
) -> None:
    layout = platform.mini.layout
    registry = first(
        dropped_plan, "the registry placed", "chmod 644", platform.mini.mcp_registry_path
    )
    agent = first(
        dropped_plan, "the agent config placed", "chmod 644", f"{agent_dir(platform)}/agent.json"
    )
    removed = first(
        dropped_plan, "the env file removed", "rm -f", f"{layout.etc}/mcp-web-fetch.env"
    )
    assert registry < removed and agent < removed
    folders = first(
        dropped_plan, "its folders removed", "rm -rf", layout.install_dir("mcp-web-fetch")
    )
    for path in (layout.config_dir("mcp-web-fetch"), layout.state_dir("mcp-web-fetch")):
        assert path in dropped_plan[folders]
    assert removed < first(dropped_plan, "its user removed", "userdel mcp-web-fetch")
    assert not any("useradd" in c and "mcp-web-fetch" in c for c in dropped_plan)
    assert not any("venvs/" in c and "mcp-web-fetch" in c for c in dropped_plan)
