"""Prometheus sees everything the platform runs: each target it scrapes is up, and each probe
(a daemon's health URL, a chat through the gateway) succeeds."""

from __future__ import annotations

import json
import shlex
from functools import cache
from typing import Any

from homelab.model import Platform
from homelab.services.monitoring import MONITORING, Watched


@cache
def _vector(host: Any, url: str, query: str) -> dict[str, float]:
    """A Prometheus instant query on its host, by each series' selector-relevant labels."""
    data = shlex.quote("query=" + query)
    cmd = f"curl -s --max-time 10 -G {shlex.quote(url)} --data-urlencode {data}"
    answer = json.loads(host.check_output(cmd))
    out: dict[str, float] = {}
    for item in answer["data"]["result"]:
        labels = item["metric"]
        key = json.dumps(sorted(labels.items()))
        out[key] = float(item["value"][1])
    return out


def _value(host: Any, platform: Platform, watched: Watched, metric: str) -> float | None:
    opts = MONITORING.options_on(platform, watched.prometheus)
    url = f"http://127.0.0.1:{opts.listener.port}/api/v1/query"
    wanted = {"job": watched.job, **dict(watched.labels)}
    for key, value in _vector(host, url, metric).items():
        labels = dict(json.loads(key))
        if all(labels.get(k) == v for k, v in wanted.items()):
            return value
    return None


def test_prometheus_target_is_up(
    watched: Watched, hosts: dict[str, Any], platform: Platform
) -> None:
    found = _value(hosts[watched.prometheus], platform, watched, "up")
    assert found == 1, (
        f"prometheus on {watched.prometheus}: expected target {watched.selector} up (1), "
        f"found {'no such target' if found is None else found}"
    )


def test_prometheus_probe_succeeds(
    watched: Watched, hosts: dict[str, Any], platform: Platform
) -> None:
    if not watched.probe:
        return
    found = _value(hosts[watched.prometheus], platform, watched, "probe_success")
    assert found == 1, (
        f"prometheus on {watched.prometheus}: expected probe {watched.selector} to succeed (1), "
        f"found {'no result yet' if found is None else found}"
    )
