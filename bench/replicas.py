"""Replicas under LiteLLM's router: how requests spread, and what a second replica buys.

``share``: requests to the lab's alias over a replicated handle, counted by the deployment that
answered (the gateway names it in a header), under the data's routing strategy.

``throughput``: one handle with one replica against the same handle with two, side by side in
one run, through transient gateways of the deployed tuning on the gateway's host. Each replica
is the benchmark's stub serving one request at a time (a fixed time each, as a one-slot model
server): what is measured is the router spreading the load, not the lab's shared CPU, on which
two real servers would only share the same two cores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import httpx

from bench.gateway import (
    STUB_MODEL,
    Variant,
    mode,
    stub_route,
    stub_upstream,
    transient_gateways,
)
from bench.lab import Lab, gateway_key, lan_gateway_url
from bench.load import chat_body, rounds
from bench.stats import LoadResult
from bench.steady import SERVED_BY
from homelab.model import Platform

#: A stub replica's time per request, and the load: enough clients to keep two replicas busy.
SERIAL_MS, CONCURRENCY, REQUESTS, ROUNDS = 50, 8, 160, 3


def share(lab: Lab, platform: Platform, alias: str, requests: int = 100) -> Counter[str]:
    """``requests`` chats to ``alias``, one after another: answers by deployment."""
    url = lan_gateway_url(platform, "/v1/chat/completions")
    headers = {"Authorization": f"Bearer {gateway_key(lab, platform)}"}
    served: Counter[str] = Counter()
    with httpx.Client(timeout=60, headers=headers) as client:
        for _ in range(requests):
            response = client.post(url, json=chat_body(alias, max_tokens=4))
            served[
                response.headers.get(SERVED_BY, "") if response.status_code == 200 else "failed"
            ] += 1
    return served


@dataclass(frozen=True)
class Throughput:
    one: LoadResult
    two: LoadResult

    @property
    def ratio(self) -> float:
        return self.two.rps / self.one.rps


def throughput(lab: Lab, platform: Platform, hosts: tuple[str, str]) -> Throughput:
    """A one-slot stub on each of ``hosts``; a gateway routing to the first alone, another to
    both; the same load on each, alternating, ``ROUNDS`` times."""
    first, second = hosts
    with (
        stub_upstream(lab, platform, first, SERIAL_MS) as a,
        stub_upstream(lab, platform, second, SERIAL_MS) as b,
    ):
        direct = mode(platform, False)
        variants = [
            Variant("replicas-1", 4103, direct, (stub_route(a),)),
            Variant("replicas-2", 4104, direct, (stub_route(a), stub_route(b))),
        ]
        auth = {"Authorization": f"Bearer {gateway_key(lab, platform)}"}
        with transient_gateways(lab, variants) as urls:
            targets = {label: (f"{url}/v1/chat/completions", auth) for label, url in urls.items()}
            found = rounds(targets, chat_body(STUB_MODEL), CONCURRENCY, REQUESTS, ROUNDS)
    return Throughput(found["replicas-1"], found["replicas-2"])
