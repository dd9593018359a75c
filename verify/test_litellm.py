"""The gateway: exactly the declared models, a chat per backend family and per MLX handle (its
servers on every host serving it behind it), and a search, all through LiteLLM as a LAN client
calls it."""

from __future__ import annotations

import httpx

from homelab.model import Platform
from verify.params import MlxHandle

#: A chat through the gateway to a tiny model takes well under this.
CHAT_TIMEOUT = 30


def test_models_are_exactly_the_declared_handles(gateway: httpx.Client, platform: Platform) -> None:
    response = gateway.get("/v1/models")
    assert response.status_code == 200, (
        f"litellm: expected 200 from /v1/models, found {response.status_code}"
    )
    found = {m["id"] for m in response.json()["data"]}
    expected = {r.handle for r in platform.routes()}
    assert found == expected, (
        f"litellm: /v1/models missing {sorted(expected - found)}, unexpected "
        f"{sorted(found - expected)}"
    )


def chat(gateway: httpx.Client, handle: str) -> httpx.Response:
    return gateway.post(
        "/v1/chat/completions",
        json={"model": handle, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 4},
    )


def answered(response: httpx.Response, who: str, handle: str) -> None:
    """A chat that came back with text: an empty answer is a backend that did not generate."""
    choices = response.json().get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    assert isinstance(content, str) and content, (
        f"{who}: chat with {handle}: expected a non-empty answer, found {content!r} in "
        f"{response.text[:200]}"
    )


def test_chat_per_backend_family(gateway: httpx.Client, family_handle: str) -> None:
    response = chat(gateway, family_handle)
    assert response.status_code == 200, (
        f"litellm: chat with {family_handle} answered {response.status_code}: {response.text[:200]}"
    )
    answered(response, "litellm", family_handle)


def test_chat_reaches_each_mlx_handle(gateway: httpx.Client, mlx_handle: MlxHandle) -> None:
    response = chat(gateway, mlx_handle.handle)
    assert response.status_code == 200, (
        f"{', '.join(mlx_handle.servers)}: chat with {mlx_handle.handle} through the gateway "
        f"answered {response.status_code}: {response.text[:200]}"
    )
    answered(response, ", ".join(mlx_handle.servers), mlx_handle.handle)


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
