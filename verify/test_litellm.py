"""The gateway: exactly the declared models, a chat per backend family and per MLX handle (its
servers on every host serving it behind it), and a search, all through LiteLLM as a LAN client
calls it."""

from __future__ import annotations

import json
from typing import Any

import httpx

from homelab.model import Platform
from verify import probes
from verify.chat import Chats, answer, answered
from verify.params import Deployment, ServedHandle


def test_chat_per_backend_family(gateway: httpx.Client, chats: Chats, family_handle: str) -> None:
    response = answer(chats, gateway, family_handle)
    assert response.status_code == 200, (
        f"litellm: chat with {family_handle} answered {response.status_code}: {response.text[:200]}"
    )
    answered(response, "litellm", family_handle)


def test_chat_reaches_each_served_handle(
    gateway: httpx.Client, chats: Chats, served_handle: ServedHandle
) -> None:
    response = answer(chats, gateway, served_handle.handle)
    assert response.status_code == 200, (
        f"{', '.join(served_handle.servers)}: chat with {served_handle.handle} through the "
        f"gateway answered {response.status_code}: {response.text[:200]}"
    )
    answered(response, ", ".join(served_handle.servers), served_handle.handle)


def test_each_alias_answers_a_chat(gateway: httpx.Client, chats: Chats, alias_name: str) -> None:
    response = answer(chats, gateway, alias_name)
    assert response.status_code == 200, (
        f"litellm: chat with the alias {alias_name} answered {response.status_code}: "
        f"{response.text[:200]}"
    )
    answered(response, "litellm", alias_name)


#: Tokens a streamed check asks for: each arrives in a chunk of its own from a direct server.
STREAM_TOKENS = 12


def content_chunks(gateway: httpx.Client, name: str) -> tuple[int, str]:
    """How many server-sent events of a streamed chat carried text, and the status line."""
    body = {
        "model": name,
        "messages": [{"role": "user", "content": "count from one to twenty"}],
        "max_tokens": STREAM_TOKENS,
        "stream": True,
    }
    chunks = 0
    with gateway.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            return 0, f"HTTP {response.status_code}: {response.read()[:200]!r}"
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = (json.loads(line[6:]).get("choices") or [{}])[0].get("delta") or {}
            chunks += bool(delta.get("content"))
    return chunks, "HTTP 200"


def test_a_direct_alias_streams(gateway: httpx.Client, streaming_alias: str) -> None:
    """Straight to its servers, a stream arrives as it is generated: a gateway that gathered
    it first (OptiLLM's proxy does) would send one chunk, and a user would see nothing until
    the model had finished."""
    chunks, status = content_chunks(gateway, streaming_alias)
    assert chunks > 1, (
        f"litellm: a stream of {STREAM_TOKENS} tokens from the alias {streaming_alias}: "
        f"expected more than one content chunk, found {chunks} ({status})"
    )


def test_each_replica_answers_the_gateway_host(
    replica: Deployment, hosts: dict[str, Any], gateway_host_name: str
) -> None:
    """Every deployment of a replicated handle, reached from the gateway's host as it routes:
    a replica the gateway cannot reach would only show when the others fail."""
    url = f"{replica.url}/models"
    code = probes.http_code(hosts[gateway_host_name], url)
    assert code == "200", (
        f"{replica.handle}: expected HTTP 200 from {url} on {gateway_host_name}, found "
        f"{'no connection' if code == '000' else 'HTTP ' + code}"
    )


def test_search_through_the_gateway(gateway: httpx.Client, platform: Platform) -> None:
    tool = platform.gateway.search_tool
    response = gateway.post(f"/v1/search/{tool}", json={"query": "python", "max_results": 3})
    assert response.status_code == 200, (
        f"searxng: search through the gateway answered {response.status_code}: "
        f"{response.text[:200]}"
    )
    results = response.json().get("results")
    assert isinstance(results, list) and results, (
        f"searxng: expected at least one search result, found {results!r} in {response.text[:200]}"
    )


def test_models_list_what_list_aliases_only_says(gateway: httpx.Client, platform: Platform) -> None:
    """On, /v1/models lists exactly the aliases (LiteLLM's listing hook; the handles still
    answer by name, as the chats above show); off, every name the gateway routes: the
    handles, the aliases and the internal names."""
    response = gateway.get("/v1/models")
    assert response.status_code == 200, (
        f"litellm: expected 200 from /v1/models, found {response.status_code}"
    )
    found = {m["id"] for m in response.json()["data"]}
    on = platform.gateway.list_aliases_only
    aliases = {a.name for a in platform.gateway.aliases}
    expected = aliases if on else {r.handle for r in platform.routes()}
    assert found == expected, (
        f"litellm: with gateway.list_aliases_only {'on' if on else 'off'}, expected /v1/models "
        f"to list {sorted(expected)}, found {sorted(found)}"
    )
