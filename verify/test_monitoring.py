"""Prometheus sees everything the platform runs: each target it scrapes is up, and each probe
(a daemon's health URL, a chat through the gateway) succeeds.

Right after a deploy Prometheus may not have scraped a target yet (a chat probe runs once a
minute or slower), or its first scrape ran while the services were still starting. Where its
last result is missing or bad, verify does the scrape itself from Prometheus's host, at the URL
Prometheus scrapes (``/api/v1/targets``' ``scrapeUrl``: for a probe, the blackbox exporter's
with its module and target), and the check holds only if that succeeds; its line says so."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
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


@cache
def _targets(host: Any, url: str) -> list[dict[str, Any]]:
    answer = json.loads(host.check_output(f"curl -s --max-time 10 {shlex.quote(url)}"))
    targets: list[dict[str, Any]] = answer["data"]["activeTargets"]
    return targets


def _scrape_now(host: Any, platform: Platform, watched: Watched) -> tuple[bool, str]:
    """The target's scrape, done now from Prometheus's host at the URL Prometheus scrapes:
    (whether it succeeded, and for a probe its probe succeeded too; what was found)."""
    opts = MONITORING.options_on(platform, watched.prometheus)
    url = f"http://127.0.0.1:{opts.listener.port}/api/v1/targets?state=active"
    wanted = {"job": watched.job, **dict(watched.labels)}
    for target in _targets(host, url):
        if all(target["labels"].get(k) == v for k, v in wanted.items()):
            seconds = int(target["scrapeTimeout"].rstrip("s")) + 5
            scrape = shlex.quote(target["scrapeUrl"])
            out = host.run(f"curl -s --max-time {seconds} -w '\\n%{{http_code}}' {scrape}")
            body, _, code = out.stdout.rpartition("\n")
            if code.strip() != "200":
                return False, f"HTTP {code.strip() or 'no answer'} from {target['scrapeUrl']}"
            if watched.probe and not re.search(r"^probe_success 1$", body, re.MULTILINE):
                return False, f"{target['scrapeUrl']}: probe_success is not 1"
            return True, "scraped by verify: ok"
    return False, "not among Prometheus's active targets"


def _holds(
    found: float | None,
    hosts: dict[str, Any],
    platform: Platform,
    watched: Watched,
    record_property: Callable[[str, object], None],
) -> tuple[bool, str]:
    """Whether Prometheus's own result is 1 or, where it is not, a scrape done now succeeds."""
    if found == 1:
        return True, "1"
    ok, now = _scrape_now(hosts[watched.prometheus], platform, watched)
    said = "no result yet" if found is None else str(found)
    record_property("prometheus", f"{said}, {now}")
    return ok, f"{said}; {now}"


def test_prometheus_target_is_up(
    watched: Watched,
    hosts: dict[str, Any],
    platform: Platform,
    record_property: Callable[[str, object], None],
) -> None:
    found = _value(hosts[watched.prometheus], platform, watched, "up")
    ok, why = _holds(found, hosts, platform, watched, record_property)
    assert ok, (
        f"prometheus on {watched.prometheus}: expected target {watched.selector} up (1), "
        f"found {why}"
    )


def test_prometheus_probe_succeeds(
    probed: Watched,
    hosts: dict[str, Any],
    platform: Platform,
    record_property: Callable[[str, object], None],
) -> None:
    found = _value(hosts[probed.prometheus], platform, probed, "probe_success")
    ok, why = _holds(found, hosts, platform, probed, record_property)
    assert ok, (
        f"prometheus on {probed.prometheus}: expected probe {probed.selector} to succeed (1), "
        f"found {why}"
    )
