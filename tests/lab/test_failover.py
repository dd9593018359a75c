"""Failover on the lab: the story of ``bench/failover.py`` (a replica's machine killed, then
another replica's server hung, then every replica of an alias down), asserted step by step:
nothing failed, and the traffic went where each step says. Prints failed / sent, p99 and which
deployment served, per step and client."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import failover
from bench.failover import Cast, Step
from bench.lab import Lab, lan_gateway_url
from bench.steady import SERVED_BY
from bench.variant import changed_lab
from homelab.load import load_platform
from tests.lab.conftest import LAB_INVENTORY, deploy, homelab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

#: Seconds each step's clients run once its fault is in place.
STEP = 20.0


@pytest.fixture(scope="module")
def cast(lab: dict[str, Any]) -> Cast:
    deploy()  # the lab as its data says, whatever state it was in
    return Cast.of(Lab.load(), load_platform(LAB_INVENTORY))


@pytest.fixture(scope="module")
def steps(cast: Cast) -> dict[str, Step]:
    print()
    return {s.name: s for s in failover.run(cast, STEP, say=print)}


def test_the_story_drops_no_request(steps: dict[str, Step]) -> None:
    failed = {
        f"{name} / {who}": f"{len(w.failed)}/{len(w.outcomes)} {w.kinds()}"
        for name, step in steps.items()
        for who, w in step.windows.items()
        if w.failed
    }
    assert failed == {}, f"expected 0 failed requests in every step, found {failed}"


def test_every_client_sent_requests_in_every_step(steps: dict[str, Step]) -> None:
    idle = [
        f"{n} / {who}" for n, s in steps.items() for who, w in s.windows.items() if not w.outcomes
    ]
    assert idle == [], f"clients that sent nothing: {idle}"


def test_both_replicas_serve_the_alias_when_both_are_up(cast: Cast, steps: dict[str, Step]) -> None:
    served = set(steps["both up"].served)
    expected = {cast.base(cast.cut), cast.base(cast.hung)}
    assert served == expected, f"expected {sorted(expected)}, found {sorted(served)}"


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_a_faulty_replica_leaves_the_rotation_within_seconds(
    cast: Cast, steps: dict[str, Step], fault: str
) -> None:
    """Once the probes have seen the fault, no request pays a server timeout any more: the
    router sends every one to the replica that answers."""
    host = cast.cut if fault == "killed" else cast.hung
    settled = steps[f"{host} {fault}"].settled
    limit = cast.platform.gateway.router.server_timeout
    assert limit is not None, "the lab's data sets a server timeout"
    slow = [o for o in settled.outcomes if o.seconds >= limit]
    assert settled.outcomes and not slow, (
        f"{host} {fault}: expected every request after the probes had seen it to take under "
        f"{limit} s, found {len(slow)} of {len(settled.outcomes)} slower "
        f"({sorted(round(o.seconds, 1) for o in slow)})"
    )


def test_traffic_returns_to_a_host_after_its_cooldown(cast: Cast, steps: dict[str, Step]) -> None:
    for step, host in ((f"{cast.cut} back", cast.cut), (f"{cast.hung} answers", cast.hung)):
        served = steps[step].served
        assert served.get(cast.base(host), 0) > 0, (
            f"{step}: expected requests served by {host} after its cooldown, found {served}"
        )


def test_an_alias_with_every_replica_down_is_answered_by_its_fallback(
    cast: Cast, steps: dict[str, Step]
) -> None:
    served = set(steps["every replica down"].served)
    assert served and served <= cast.fallback_bases(), (
        f"{cast.alias}: expected answers from {cast.fallback} "
        f"({sorted(cast.fallback_bases())}), found {sorted(served)}"
    )


def test_the_lab_is_whole_again(cast: Cast, steps: dict[str, Step]) -> None:
    """What the story broke is back: the alias answers from both replicas' hosts."""
    time.sleep(cast.platform.gateway.router.cooldown_time)  # the last step's cooldowns
    url = lan_gateway_url(cast.platform, "/v1/chat/completions")
    body = {"model": cast.alias, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    served = set()
    for _ in range(20):
        r = httpx.post(url, json=body, headers={"Authorization": f"Bearer {cast.key}"}, timeout=60)
        assert r.status_code == 200, r.text[:300]
        served.add(r.headers.get(SERVED_BY, ""))
    expected = {cast.base(cast.cut), cast.base(cast.hung)}
    assert served == expected, f"expected answers from {sorted(expected)}, found {sorted(served)}"


def test_a_host_taken_out_for_maintenance_and_back_drops_nothing(
    cast: Cast, tmp_path: Path
) -> None:
    """The data says the host is out: a deploy reloads the gateway, its replica leaves the
    alias while a steady client runs on, status says so; lifting it brings the host back."""
    host = cast.cut
    inventory = changed_lab(
        tmp_path,
        f"lab.evolve(hosts={{**lab.hosts, {host!r}: "
        f"lab.hosts[{host!r}].evolve(maintenance='fan swap')}})",
    )
    with cast.client(cast.alias) as alias:
        deploy(inventory)
        out = time.monotonic()
        time.sleep(5)
        status = homelab("status", inventory=inventory)
        lifted = time.monotonic()
        deploy()
        back = time.monotonic()
        time.sleep(cast.platform.gateway.router.cooldown_time)
    print(f"\nmaintenance of {host}, out and back: {alias.summary()}")
    assert alias.failed == [], f"expected 0 failed, found {alias.window().kinds()}"
    during = alias.window(out, lifted).served()
    assert during and cast.base(host) not in during, (
        f"expected no request served by {host} while it is out, found {during}"
    )
    assert alias.window(back).served().get(cast.base(host), 0) > 0, alias.window(back).served()
    assert "maintenance: out of the gateway's rotation (fan swap)" in status.stdout, status.stdout[
        -1500:
    ]
