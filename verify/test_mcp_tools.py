"""The MCP tools on the Mini: the registry the data renders, each tool installed where it says,
and the web-fetch tool started exactly as the registry says (as its own user, with the
registry's env and nothing else) and called over MCP stdio with the SDK's client.

The client runs on the Mini in the tool's venv (``verify/mcp_client.py``); for the duration of
the call it serves an article page (``verify/pages/article.html``: navigation, a header, an
aside and a footer around it) on the Mini's address, at a port the kernel picks.
"""

from __future__ import annotations

import io
import ipaddress
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values
from web_fetch.server import FETCH_TOOL, SEARCH_TOOL

from homelab.model import Platform
from homelab.services.mcp_tools import McpTool, install_of, registry

HERE = Path(__file__).parent
#: Said by the article, and only by it; the frame's phrases must not come back.
ARTICLE = ("The tide mill on the estuary ground grain", "about six times a minute")
FRAME = (
    "Sign in to your account",
    "Subscribe to the newsletter",
    "All rights reserved",
    "Windmills of the coast",
)
SEARCH_MAX = 3


@pytest.fixture(scope="module")
def web_fetch(platform: Platform) -> McpTool:
    tool = next((t for t in platform.mini.mcp_tools if t.name == "web-fetch"), None)
    if tool is None:
        pytest.skip("the data names no web-fetch tool")
    return tool


def entry(host: Any, platform: Platform, name: str) -> dict[str, Any]:
    servers = json.loads(host.file(platform.mini.mcp_registry_path).content_string)["servers"]
    found: dict[str, Any] = next(s for s in servers if s["name"] == name)
    return found


def test_registry_on_the_mini_is_the_rendered_one(host: Any, platform: Platform) -> None:
    f = host.file(platform.mini.mcp_registry_path)
    assert f.exists, f"mcp-tools: expected {platform.mini.mcp_registry_path}, found none"
    assert json.loads(f.content_string) == registry(platform), (
        f"mcp-tools: {platform.mini.mcp_registry_path} is not what the data renders"
    )


def test_each_tool_is_installed_where_the_registry_says(host: Any, platform: Platform) -> None:
    for tool in platform.mini.mcp_tools:
        where = install_of(platform, tool)
        command = entry(host, platform, tool.name)["command"]
        assert command == where.command, f"{tool.name}: registry names {command}"
        f = host.file(command)
        assert f.exists and f.mode & 0o111, f"{tool.name}: {command} is not an installed program"
        assert host.user(where.user).exists, f"{tool.name}: no user {where.user}"


def test_gateway_key_reaches_the_tool_in_its_users_file_alone(
    host: Any, platform: Platform, gateway_key: str
) -> None:
    for tool in platform.mini.mcp_tools:
        where = install_of(platform, tool)
        secret = host.file(where.secrets_env)
        found = (secret.user, oct(secret.mode))
        assert found == (where.user, "0o600"), f"{tool.name}: {where.secrets_env} is {found}"
        folder = host.file(where.config_dir)
        assert (folder.user, folder.group, oct(folder.mode)) == ("root", where.user, "0o750")
        # Booleans first: a failed assertion must not print the key.
        holds_key = gateway_key in secret.content_string
        assert holds_key, f"{tool.name}: {where.secrets_env} does not hold the store's gateway key"
        for public in (where.env_file, platform.mini.mcp_registry_path):
            leaked = gateway_key in host.file(public).content_string
            assert not leaked, f"{tool.name}: the gateway key is in {public}"


def registry_env(host: Any, platform: Platform, tool: McpTool) -> dict[str, str]:
    """The registry's env names, each with its value from the tool's env file."""
    names = entry(host, platform, tool.name)["env"]
    where = install_of(platform, tool)
    values = dotenv_values(stream=io.StringIO(host.file(where.env_file).content_string))
    missing = [name for name in names if values.get(name) is None]
    assert not missing, f"{tool.name}: {where.env_file} gives no value for {missing}"
    return {name: str(values[name]) for name in names}


@pytest.fixture(scope="module")
def session(hosts: dict[str, Any], platform: Platform, web_fetch: McpTool) -> dict[str, Any]:
    """One session with the tool: listed, one fetch of the article, one search."""
    host = hosts["mini"]
    listed = entry(host, platform, web_fetch.name)
    spec = {
        "command": listed["command"],
        "args": listed["args"],
        "env": registry_env(host, platform, web_fetch),
        "page": (HERE / "pages" / "article.html").read_text(),
        "address": platform.addresses["mini"],
        "calls": [
            [FETCH_TOOL, {"url": "{page}"}],
            [SEARCH_TOOL, {"query": "python", "max_results": SEARCH_MAX}],
        ],
    }
    where = install_of(platform, web_fetch)
    client = (HERE / "mcp_client.py").read_text()
    run = host.run(
        f"cd / && runuser -u {where.user} -- {where.venv}/bin/python "
        f"-c {shlex.quote(client)} {shlex.quote(json.dumps(spec))}"
    )
    assert run.rc == 0, f"web-fetch: the MCP session failed: {run.stderr[-1500:]}"
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def call(session: dict[str, Any], tool: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in session["calls"] if c["tool"] == tool)
    return found


def test_web_fetch_lists_the_registrys_tools(session: dict[str, Any], web_fetch: McpTool) -> None:
    assert sorted(session["tools"]) == sorted(web_fetch.tools), (
        f"web-fetch: tools/list gives {session['tools']}, the registry {list(web_fetch.tools)}"
    )


def test_web_fetch_returns_the_article_alone(
    session: dict[str, Any], web_fetch: McpTool, platform: Platform
) -> None:
    fetched = call(session, FETCH_TOOL)
    address = ipaddress.ip_address(platform.addresses["mini"])
    if not any(address in network for network in web_fetch.allow_networks):
        # The Mini's own address is not allowed: the guard must refuse it.
        assert fetched["is_error"], f"web-fetch: fetched {session['page_url']}, not allowed"
        assert str(address) in fetched["text"], fetched["text"]
        return
    assert not fetched["is_error"], f"web-fetch: {FETCH_TOOL} failed: {fetched['text']}"
    page = fetched["structured"]
    assert page["url"] == session["page_url"]
    assert page["title"] == "How the tide mill kept time | Estuary Notes"
    for phrase in ARTICLE:
        assert phrase in page["text"], f"web-fetch: the article lost {phrase!r}"
    for phrase in FRAME:
        assert phrase not in page["text"], f"web-fetch: the page's frame came back: {phrase!r}"


def test_search_web_returns_results(session: dict[str, Any]) -> None:
    searched = call(session, SEARCH_TOOL)
    assert not searched["is_error"], f"web-fetch: {SEARCH_TOOL} failed: {searched['text']}"
    results = searched["structured"]["results"]
    assert 1 <= len(results) <= SEARCH_MAX, f"web-fetch: {len(results)} results"
    assert all(r["url"] for r in results)
