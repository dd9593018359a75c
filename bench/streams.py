"""Time to first token, per path: a streamed chat straight to a model server against the same
model through OptiLLM's proxy (which gathers the whole answer before it sends a chunk)."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

import httpx

from bench.lab import Lab, gateway_key, lan_gateway_url
from homelab.model import Platform

#: Tokens each streamed chat asks for, and chats per path.
MAX_TOKENS, CHATS = 30, 10


@dataclass(frozen=True)
class Stream:
    first_ms: float  # until the first chunk with text
    total_ms: float
    chunks: int  # chunks with text


def stream(client: httpx.Client, url: str, model: str) -> Stream:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "count to ten"}],
        "max_tokens": MAX_TOKENS,
        "stream": True,
    }
    start = time.perf_counter()
    first: float | None = None
    chunks = 0
    with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = (json.loads(line[6:]).get("choices") or [{}])[0].get("delta") or {}
            if delta.get("content"):
                chunks += 1
                first = first if first is not None else time.perf_counter()
    end = time.perf_counter()
    return Stream(((first or end) - start) * 1000, (end - start) * 1000, chunks)


@dataclass(frozen=True)
class PathTimes:
    name: str
    model: str
    streams: tuple[Stream, ...]

    @property
    def first_ms(self) -> float:
        return statistics.median(s.first_ms for s in self.streams)

    @property
    def total_ms(self) -> float:
        return statistics.median(s.total_ms for s in self.streams)

    @property
    def chunks(self) -> float:
        return statistics.median(s.chunks for s in self.streams)


def paths(lab: Lab, platform: Platform, direct: str, via_optillm: str) -> list[PathTimes]:
    """``CHATS`` streamed chats to each model name, alternating."""
    url = lan_gateway_url(platform, "/v1/chat/completions")
    headers = {"Authorization": f"Bearer {gateway_key(lab, platform)}"}
    found: dict[str, list[Stream]] = {direct: [], via_optillm: []}
    with httpx.Client(timeout=120, headers=headers) as client:
        for _ in range(CHATS):
            for model in found:
                found[model].append(stream(client, url, model))
    return [
        PathTimes("direct", direct, tuple(found[direct])),
        PathTimes("through OptiLLM", via_optillm, tuple(found[via_optillm])),
    ]
