"""A bounded HTTP load generator (httpx, asyncio): a fixed number of requests at a concurrency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx

from bench.stats import LoadResult, merge

#: Every request is bounded: a stuck upstream fails the request, it never hangs the benchmark.
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def chat_body(model: str, max_tokens: int = 1) -> dict[str, object]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }


async def _run(
    url: str,
    body: Mapping[str, object],
    headers: Mapping[str, str],
    requests: int,
    concurrency: int,
    warmup: int,
) -> LoadResult:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=TIMEOUT, limits=limits, headers=dict(headers)) as client:
        # Warm-up: open the connections and let the server load lazily imported code.
        for _ in range(warmup):
            await client.post(url, json=body)
        latencies: list[float] = []
        errors = 0
        remaining = requests

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                try:
                    response = await client.post(url, json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return LoadResult(latencies=tuple(latencies), errors=errors, wall=wall)


def run_load(
    url: str,
    body: Mapping[str, object],
    *,
    requests: int,
    concurrency: int,
    headers: Mapping[str, str] | None = None,
    warmup: int = 10,
) -> LoadResult:
    """POST ``body`` to ``url`` ``requests`` times, ``concurrency`` at a time."""
    return asyncio.run(_run(url, body, headers or {}, requests, concurrency, warmup))


def rounds(
    targets: dict[str, tuple[str, dict[str, str]]],
    body: dict[str, object],
    concurrency: int,
    requests: int,
    n_rounds: int,
) -> dict[str, LoadResult]:
    """Each target in turn, ``n_rounds`` times, so drift on the machine hits them alike."""
    results: dict[str, list[LoadResult]] = {name: [] for name in targets}
    for _ in range(n_rounds):
        for name, (url, headers) in targets.items():
            results[name].append(
                run_load(url, body, requests=requests, concurrency=concurrency, headers=headers)
            )
    return {name: merge(runs) for name, runs in results.items()}
