"""The MCP tools on each host whose data places them: the registry the data renders, each tool
installed where it says, and the web-fetch tool started exactly as the registry says (as its
own user, with the registry's env and nothing else) and called over MCP stdio with the SDK's
client.

The client runs on the tool's host in the tool's venv (``verify/mcp_client.py``, started with
the suite by ``verify/mcp_session.py``); for the duration of the call it serves an article
page (``verify/pages/article.html``: navigation, a header, an aside and a footer around it) on
that host's address, at a port the kernel picks.
"""

from __future__ import annotations

import io
import ipaddress
import json
from concurrent.futures import Future
from typing import Any

import pytest
from dotenv import dotenv_values
from web_fetch.config import PROXY_KEY_ENV
from web_fetch.names import FETCH_TOOL, SEARCH_TOOL

from homelab.model import Platform
from homelab.services.mcp_tools import McpTool, install_of, registry, tools_on
from verify.mcp_session import SEARCH_MAX, Session, entry, web_fetch_on
from verify.params import ToolOn

#: Said by the article, and only by it; the frame's phrases must not come back.
ARTICLE = ("The tide mill on the estuary ground grain", "about six times a minute")
FRAME = (
    "Sign in to your account",
    "Subscribe to the newsletter",
    "All rights reserved",
    "Windmills of the coast",
)


def registry_path(platform: Platform, host: str) -> str:
    return tools_on(platform, host).registry_path


@pytest.fixture(scope="module")
def web_fetch(platform: Platform, mcp_host: str) -> McpTool:
    tool = web_fetch_on(platform, mcp_host)
    if tool is None:
        pytest.skip(f"the data names no web-fetch tool on {mcp_host}")
    return tool


def test_registry_exists(mcp_host: str, host: Any, platform: Platform) -> None:
    path = registry_path(platform, mcp_host)
    assert host.file(path).exists, f"mcp-tools: expected {path} on {mcp_host}, found none"


def test_registry_is_the_rendered_one(mcp_host: str, host: Any, platform: Platform) -> None:
    path = registry_path(platform, mcp_host)
    found = json.loads(host.file(path).content_string)
    expected = registry(platform, mcp_host)
    assert found == expected, (
        f"mcp-tools: expected {path} on {mcp_host} to be what the data renders "
        f"({json.dumps(expected)[:300]}), found {json.dumps(found)[:300]}"
    )


@pytest.fixture
def tool_host(hosts: dict[str, Any], mcp_tool: ToolOn) -> Any:
    """The testinfra host of the tool a check is about."""
    return hosts[mcp_tool.host]


def test_registry_names_the_tools_install(
    mcp_tool: ToolOn, tool_host: Any, platform: Platform
) -> None:
    where = install_of(platform, mcp_tool.host, mcp_tool.tool)
    command = entry(tool_host, platform, mcp_tool.host, mcp_tool.tool.name)["command"]
    assert command == where.command, (
        f"{mcp_tool.tool.name}: expected the registry to name {where.command}, found {command}"
    )


def test_tool_is_an_installed_program(mcp_tool: ToolOn, tool_host: Any, platform: Platform) -> None:
    where = install_of(platform, mcp_tool.host, mcp_tool.tool)
    f = tool_host.file(where.command)
    found = oct(f.mode) if f.exists else "no file"
    assert f.exists and f.mode & 0o111, (
        f"{mcp_tool.tool.name}: expected {where.command} an executable program, found {found}"
    )


def test_tool_has_its_own_user(mcp_tool: ToolOn, tool_host: Any, platform: Platform) -> None:
    where = install_of(platform, mcp_tool.host, mcp_tool.tool)
    assert tool_host.user(where.user).exists, (
        f"{mcp_tool.tool.name}: expected a user {where.user} on {mcp_tool.host}, found none"
    )


def test_tool_secrets_file_is_its_users_alone(
    mcp_tool: ToolOn, tool_host: Any, platform: Platform
) -> None:
    where = install_of(platform, mcp_tool.host, mcp_tool.tool)
    secret = tool_host.file(where.secrets_env)
    found = (secret.user, oct(secret.mode))
    assert found == (where.user, "0o600"), (
        f"{mcp_tool.tool.name}: expected {where.secrets_env} {where.user} 0o600, "
        f"found {found[0]} {found[1]}"
    )


def test_tool_config_folder_is_root_and_its_group(
    mcp_tool: ToolOn, tool_host: Any, platform: Platform
) -> None:
    where = install_of(platform, mcp_tool.host, mcp_tool.tool)
    folder = tool_host.file(where.config_dir)
    found = (folder.user, folder.group, oct(folder.mode))
    expected = ("root", where.user, "0o750")
    assert found == expected, (
        f"{mcp_tool.tool.name}: expected {where.config_dir} {' '.join(expected)}, "
        f"found {' '.join(found)}"
    )


def test_gateway_key_reaches_the_tool_in_its_users_file(
    mcp_tool: ToolOn, tool_host: Any, platform: Platform, gateway_key: str
) -> None:
    where = install_of(platform, mcp_tool.host, mcp_tool.tool)
    # Booleans first: a failed assertion must not print the key.
    values = dotenv_values(stream=io.StringIO(tool_host.file(where.secrets_env).content_string))
    holds_key = values.get(PROXY_KEY_ENV) == gateway_key
    assert holds_key, (
        f"{mcp_tool.tool.name}: expected {where.secrets_env} to set {PROXY_KEY_ENV} (the "
        "variable the tool reads) to the store's gateway key; found it does not"
    )


def test_gateway_key_is_in_no_public_file(
    mcp_tool: ToolOn, tool_host: Any, platform: Platform, gateway_key: str
) -> None:
    where = install_of(platform, mcp_tool.host, mcp_tool.tool)
    public = (where.env_file, registry_path(platform, mcp_tool.host))
    # Booleans first: a failed assertion must not print the key.
    leaked = [path for path in public if gateway_key in tool_host.file(path).content_string]
    assert not leaked, (
        f"{mcp_tool.tool.name}: expected the gateway key in none of {', '.join(public)}, "
        f"found it in {', '.join(leaked)}"
    )


@pytest.fixture(scope="module")
def session(
    mcp_sessions: dict[str, Future[Session]], mcp_host: str, web_fetch: McpTool
) -> dict[str, Any]:
    """One session with the tool (started with the suite, run while the other checks run)."""
    run = mcp_sessions[mcp_host].result()
    assert run.rc == 0, f"web-fetch: the MCP session on {mcp_host} failed: {run.stderr[-1500:]}"
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def call(session: dict[str, Any], tool: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in session["calls"] if c["tool"] == tool)
    return found


def test_web_fetch_lists_the_registrys_tools(session: dict[str, Any], web_fetch: McpTool) -> None:
    assert sorted(session["tools"]) == sorted(web_fetch.tools), (
        f"web-fetch: expected tools/list to give the registry's {list(web_fetch.tools)}, "
        f"found {session['tools']}"
    )


def test_web_fetch_returns_the_article_alone(
    session: dict[str, Any], web_fetch: McpTool, platform: Platform, mcp_host: str
) -> None:
    fetched = call(session, FETCH_TOOL)
    address = ipaddress.ip_address(platform.addresses[mcp_host])
    if not any(address in network for network in web_fetch.allow_networks):
        # The host's own address is not allowed: the guard must refuse it.
        assert fetched["is_error"], f"web-fetch: fetched {session['page_url']}, not allowed"
        assert str(address) in fetched["text"], fetched["text"]
        return
    assert not fetched["is_error"], f"web-fetch: {FETCH_TOOL} failed: {fetched['text']}"
    page = fetched["structured"]
    assert page["url"] == session["page_url"], (
        f"web-fetch: expected the page's url {session['page_url']}, found {page['url']}"
    )
    title = "How the tide mill kept time | Estuary Notes"
    assert page["title"] == title, f"web-fetch: expected title {title!r}, found {page['title']!r}"
    for phrase in ARTICLE:
        assert phrase in page["text"], f"web-fetch: the article lost {phrase!r}"
    for phrase in FRAME:
        assert phrase not in page["text"], f"web-fetch: the page's frame came back: {phrase!r}"


def test_search_web_returns_results(session: dict[str, Any]) -> None:
    searched = call(session, SEARCH_TOOL)
    assert not searched["is_error"], f"web-fetch: {SEARCH_TOOL} failed: {searched['text']}"
    results = searched["structured"]["results"]
    assert 1 <= len(results) <= SEARCH_MAX, (
        f"web-fetch: expected 1 to {SEARCH_MAX} results, found {len(results)}"
    )
    assert all(r["url"] for r in results), (
        f"web-fetch: expected a url in every result, found {[r.get('url') for r in results]}"
    )
