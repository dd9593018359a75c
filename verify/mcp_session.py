"""One MCP session with each host's web-fetch tool, started with the suite and run in the
background while the other checks run (it takes seconds: a venv's start, a fetch, a search).

The client runs on the tool's host in the tool's venv (``verify/mcp_client.py``), as the
tool's user, with exactly the registry's command, arguments and env.
"""

from __future__ import annotations

import io
import json
import shlex
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from dotenv import dotenv_values
from web_fetch.names import FETCH_TOOL, SEARCH_TOOL

from homelab.model import Platform, System
from homelab.services.mcp_tools import McpTool, install_of, tools_on

HERE = Path(__file__).parent
#: Results the search is asked for.
SEARCH_MAX = 3
#: The tool the session talks to.
WEB_FETCH = "web-fetch"


class Session(Protocol):
    """What testinfra's ``host.run`` returns."""

    rc: int
    stdout: str
    stderr: str


def as_user(system: System, user: str) -> str:
    """A command prefix running what follows as ``user`` (the suite connects as root)."""
    return system.as_user.format(user=shlex.quote(user))


def entry(host: Any, platform: Platform, host_name: str, name: str) -> dict[str, Any]:
    """The registry's entry for the tool ``name``, as the host's registry file has it."""
    path = tools_on(platform, host_name).registry_path
    servers = json.loads(host.file(path).content_string)["servers"]
    found: dict[str, Any] | None = next((s for s in servers if s["name"] == name), None)
    assert found is not None, (
        f"{name}: expected an entry in {path} on {host_name}, found only "
        f"{[s['name'] for s in servers]}"
    )
    return found


def registry_env(host: Any, platform: Platform, host_name: str, tool: McpTool) -> dict[str, str]:
    """The registry's env names, each with its value from the tool's env file."""
    names = entry(host, platform, host_name, tool.name)["env"]
    where = install_of(platform, host_name, tool)
    values = dotenv_values(stream=io.StringIO(host.file(where.env_file).content_string))
    missing = [name for name in names if values.get(name) is None]
    assert not missing, f"{tool.name}: expected {where.env_file} to give {missing}, found none"
    return {name: str(values[name]) for name in names}


def web_fetch_on(platform: Platform, host_name: str) -> McpTool | None:
    return next((t for t in tools_on(platform, host_name).tools if t.name == WEB_FETCH), None)


def run_session(host: Any, platform: Platform, host_name: str, tool: McpTool) -> Session:
    """Listed, one fetch of the article page, one search."""
    listed = entry(host, platform, host_name, tool.name)
    spec = {
        "command": listed["command"],
        "args": listed["args"],
        "env": registry_env(host, platform, host_name, tool),
        "page": (HERE / "pages" / "article.html").read_text(),
        "address": platform.addresses[host_name],
        "calls": [
            [FETCH_TOOL, {"url": "{page}"}],
            [SEARCH_TOOL, {"query": "python", "max_results": SEARCH_MAX}],
        ],
    }
    where = install_of(platform, host_name, tool)
    client = (HERE / "mcp_client.py").read_text()
    run: Session = host.run(
        f"cd / && {as_user(platform.host(host_name).os, where.user)} {where.venv}/bin/python "
        f"-c {shlex.quote(client)} {shlex.quote(json.dumps(spec))}"
    )
    return run


def start_sessions(
    pool: ThreadPoolExecutor, hosts: dict[str, Any], platform: Platform, host_names: list[str]
) -> dict[str, Future[Session]]:
    """A session on each of ``host_names`` that has a web-fetch tool, started now."""
    started: dict[str, Future[Session]] = {}
    for name in host_names:
        tool = web_fetch_on(platform, name)
        if tool is not None:
            started[name] = pool.submit(run_session, hosts[name], platform, name, tool)
    return started
