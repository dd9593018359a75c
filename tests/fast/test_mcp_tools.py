"""The MCP tools' service: the registry in upstream's shape naming where the deploy installs
each tool, names (never values, never the key) in its ``env``, the allow-list from the data,
Tiny Agents' config rendered from the model, and a tool the data drops removed everywhere."""

from __future__ import annotations

import getpass
import grp
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from web_fetch.config import ALLOW_NETWORKS_ENV, ENV_FILE_ENV, PROXY_KEY_ENV, Settings
from web_fetch.names import FETCH_TOOL, SEARCH_TOOL

from homelab import PROJECT_ROOT
from homelab.lab.config import load_config
from homelab.model import Platform
from homelab.model.base import SecretRef
from homelab.model.common import Layout
from homelab.render import HostFile, host_files
from homelab.secrets import env_writer
from homelab.services.litellm import gateway_url
from homelab.services.mcp_tools import (
    McpTools,
    agent_dir,
    environment,
    install_of,
    secrets,
    tools_on,
)
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


#: The host the data places the MCP tools on.
HOST = "mini"


def mini_files(platform: Platform) -> dict[str, HostFile]:
    return {f.path: f for f in host_files(platform, HOST)}


def registry_of(platform: Platform) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        mini_files(platform)[tools_on(platform, HOST).registry_path].content
    )
    return data


def with_mcp_tools(platform: Platform, mcp: McpTools) -> Platform:
    """The platform with ``mcp`` as the Mini's MCP tools."""
    mini = platform.host(HOST).evolve(mcp_tools=mcp)
    return platform.evolve(hosts={**platform.hosts, HOST: mini})


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
    mcp = tools_on(platform, HOST)
    return with_mcp_tools(platform, mcp.evolve(tiny_agents=mcp.tiny_agents.evolve(**options)))


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
    venv = platform.host(HOST).layout.venv("mcp-web-fetch")
    assert server["command"] == f"{venv}/bin/{console_script('web-fetch')}"
    assert server["args"] == []
    assert server["tools"] == [FETCH_TOOL, SEARCH_TOOL]


def test_registry_env_is_names_whose_values_are_in_the_tools_env_file(
    platform: Platform,
) -> None:
    server = only_server(platform)
    assert all(ENV_NAME.match(name) for name in server["env"]), server["env"]
    assert PROXY_KEY_ENV not in server["env"]  # the key is never passed by a client
    layout = platform.host(HOST).layout
    env_path = f"{layout.etc}/mcp-web-fetch.env"
    f = mini_files(platform)[env_path]
    assert env_path in server["notes"]
    values = parse_env(f.content)
    assert sorted(values) == server["env"]
    secrets = values[ENV_FILE_ENV]
    assert secrets == f"{layout.config_dir('mcp-web-fetch')}/secrets.env"
    assert not secrets.startswith(layout.secrets)  # root-only: the tool reads it


def test_allow_list_is_none_by_default_and_the_lab_subnet_in_the_lab(
    platform: Platform, lab_platform: Platform
) -> None:
    def allowed(p: Platform) -> str:
        etc = p.host(HOST).layout.etc
        return parse_env(mini_files(p)[f"{etc}/mcp-web-fetch.env"].content)[ALLOW_NETWORKS_ENV]

    assert allowed(platform) == ""
    assert allowed(lab_platform) == str(load_config().subnet)


def test_tiny_agents_is_off_and_rendered_from_the_model_when_on(platform: Platform) -> None:
    folder = agent_dir(platform, HOST)
    assert not any(p.startswith(folder) for p in mini_files(platform))

    on = with_tiny_agents(platform, enabled=True)
    files = mini_files(on)
    agent = json.loads(files[f"{folder}/agent.json"].content)
    served = [h.handle for h in on.handles()]
    assert agent["model"] == served[0]
    assert agent["endpointUrl"] == gateway_url(on)
    server = only_server(on)
    env_file = parse_env(files[f"{on.host(HOST).layout.etc}/mcp-web-fetch.env"].content)
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
from homelab.services.mcp_tools import tools_on

__all__ = ["platform"]

_real = siblings(str(PROJECT_ROOT / "group_data" / "all.py"), "all")["all"]["platform"]
_mcp = tools_on(_real, "mini")
_mcp = _mcp.evolve(tools=(), tiny_agents=_mcp.tiny_agents.evolve(enabled=True))
platform = _real.evolve(hosts={**_real.hosts, "mini": _real.host("mini").evolve(mcp_tools=_mcp)})
"""


def test_a_dropped_tool_is_named_nowhere(platform: Platform) -> None:
    without = with_mcp_tools(platform, tools_on(platform, HOST).evolve(tools=()))
    dropped = with_tiny_agents(without, enabled=True)
    files = mini_files(dropped)
    assert registry_of(dropped)["servers"] == []
    assert json.loads(files[f"{agent_dir(dropped, HOST)}/agent.json"].content)["servers"] == []
    assert not any("web-fetch" in f.path or "web-fetch" in f.content for f in files.values())


@pytest.fixture(scope="module")
def dropped_plan(tmp_path_factory: pytest.TempPathFactory, platform: Platform) -> list[str]:
    """The Mini's deploy from data without the tool, on a Mini where it is still installed."""
    folder = tmp_path_factory.mktemp("dropped")
    (folder / "group_data").mkdir()
    (folder / "group_data" / "all.py").write_text(WITHOUT_TOOLS)
    installed = platform.host(HOST).layout.install_dir("mcp-web-fetch")
    stat = f"user=root group=root mode=drwxr-xr-x atime=0 mtime=0 ctime=0 size=4096 '{installed}'"
    return planned_commands(folder, HOST, {HOST: {f"test -e {installed} ||": stat}})


def test_the_deploy_removes_a_dropped_tool_after_the_registry_forgets_it(
    dropped_plan: list[str], platform: Platform
) -> None:
    layout = platform.host(HOST).layout
    registry = first(
        dropped_plan, "the registry placed", "chmod 644", tools_on(platform, HOST).registry_path
    )
    agent = first(
        dropped_plan,
        "the agent config placed",
        "chmod 644",
        f"{agent_dir(platform, HOST)}/agent.json",
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


def test_a_renamed_gateway_key_still_reaches_the_tool(platform: Platform, tmp_path: Path) -> None:
    """The deploy's writer fills the tool's key file from the store, the tool's reader reads
    it: with the reference renamed in the data, the tool still finds its key."""
    layout = Layout(etc=str(tmp_path / "etc"), secrets=str(tmp_path / "secrets"))
    mini = platform.host(HOST).model_copy(update={"layout": layout})
    gateway = platform.gateway.model_copy(update={"proxy_key": SecretRef(env="GATEWAY_MASTER")})
    renamed = platform.model_copy(
        update={"hosts": {**platform.hosts, HOST: mini}, "gateway": gateway}
    )
    Path(layout.secret_store).mkdir(parents=True)
    Path(layout.secret_file("GATEWAY_MASTER")).write_text("sk-the-renamed-key")
    (tool,) = tools_on(renamed, HOST).tools
    where = install_of(renamed, HOST, tool)
    Path(where.config_dir).mkdir(parents=True)
    me, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    writer = env_writer(where.secrets_env, secrets(renamed), layout, me, group)
    subprocess.run(["sh", "-ec", writer], check=True)
    env = {ENV_FILE_ENV: environment(renamed, HOST, tool)[ENV_FILE_ENV]}
    assert Settings.from_env(env).proxy_key() == "sk-the-renamed-key"
