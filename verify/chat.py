"""A chat through the gateway as a LAN client sends it, and what its answer must hold."""

from __future__ import annotations

from concurrent.futures import Future

import httpx

#: The chats sent at the session's start, by the name each asked for.
Chats = dict[str, Future[httpx.Response]]


def ask(gateway: httpx.Client, name: str) -> httpx.Response:
    return gateway.post(
        "/v1/chat/completions",
        json={"model": name, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 4},
    )


def answer(chats: Chats, gateway: httpx.Client, name: str) -> httpx.Response:
    """The chat sent at the session's start, or one sent now for a name it did not hold."""
    sent = chats.get(name)
    return sent.result() if sent is not None else ask(gateway, name)


def answered(response: httpx.Response, who: str, name: str) -> None:
    """A chat that came back with text: an empty answer is a backend that did not generate."""
    choices = response.json().get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    assert isinstance(content, str) and content, (
        f"{who}: chat with {name}: expected a non-empty answer, found {content!r} in "
        f"{response.text[:200]}"
    )
