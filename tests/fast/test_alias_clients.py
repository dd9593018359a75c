"""Clients on aliases: Open WebUI's and Tiny Agents' models may be the gateway's stable names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from homelab.model import Platform
from homelab.services import daemon_named
from homelab.services.mcp_tools import agent_model
from homelab.services.open_webui import SERVICE as OPEN_WEBUI


def webui_env(platform: Platform) -> dict[str, str]:
    host = next(h for h, _ in OPEN_WEBUI.placed(platform))
    return OPEN_WEBUI.environment(platform, daemon_named(platform, host, OPEN_WEBUI.name))


def test_open_webui_starts_chats_on_an_alias_and_writes_titles_with_it(
    lab_platform: Platform,
) -> None:
    env = webui_env(lab_platform)
    assert (env.get("DEFAULT_MODELS"), env.get("TASK_MODEL_EXTERNAL")) == ("fast", "fast"), env


def test_open_webui_leaves_both_to_the_user_unless_the_data_names_them(
    platform: Platform,
) -> None:
    env = webui_env(platform)
    assert not {"DEFAULT_MODELS", "TASK_MODEL_EXTERNAL"} & set(env), env


def test_tiny_agents_may_ask_for_an_alias(lab_platform: Platform) -> None:
    host = "mini"
    mcp = lab_platform.host(host).services["mcp_tools"]
    agents = mcp.tiny_agents.evolve(model="deep")  # type: ignore[attr-defined]
    hosts = {
        **lab_platform.hosts,
        host: lab_platform.hosts[host].evolve(mcp_tools=mcp.evolve(tiny_agents=agents)),
    }
    assert agent_model(lab_platform.evolve(hosts=hosts), host) == "deep"


def test_a_handle_for_open_webui_is_refused_while_only_aliases_are_listed(
    lab_platform: Platform,
) -> None:
    host = next(h for h, _ in OPEN_WEBUI.placed(lab_platform))
    ow = lab_platform.host(host).services["open_webui"]
    hosts = {
        **lab_platform.hosts,
        host: lab_platform.hosts[host].evolve(open_webui=ow.evolve(task_model="mlx-tiny-llama-a")),
    }
    listed = lab_platform.gateway.evolve(list_aliases_only=True)
    with pytest.raises(ValidationError, match=r"open_webui\.task_model: 'mlx-tiny-llama-a' is a"):
        lab_platform.evolve(hosts=hosts, gateway=listed)
