"""Warm-up profiles on the lab: after a restart, a warmed model's first request does not pay
its load; the OpenVINO server's active profile is switched by a deploy with nothing restarted.

The lab warms the Mini's ov-server profile (the real data's ``ov-only-fast``; the lab's
stand-in takes ``LOAD_SECONDS`` at a model's first request, as the real server loads then) and
the Studio's ``mlx-tiny-llama-b`` (real mlx-lm). Each model's first answer, asked at its server as
the gateway asks it, is timed after a restart by hand (cold) and after a restart the deploy then
warmed (warm); the figures are printed. The session holds the lab lock (``conftest.lab_lock``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.variant import changed_lab
from homelab import warm
from homelab.lab.substitutes.ov_server import LOAD_SECONDS
from homelab.load import load_platform
from homelab.model import Platform
from homelab.model.service import WARM, Warmup
from homelab.services.ov_server import SERVICE as OV_SERVER
from tests.lab.conftest import LAB_INVENTORY, deploy, ssh
from tests.lab.test_day_two import main_pids, restarted
from tests.lab.test_deploy import chat

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

PLATFORM = load_platform(LAB_INVENTORY)
#: The lab's two warm-ups, as its data gives them: ov-server's active profile, and the Studio's
#: MLX model marked warm (the only model of its profile).
(OV,) = [w for h in PLATFORM.hosts for w in PLATFORM.warmups(h) if w.daemon.name == OV_SERVER.name]
(MLX,) = [w for h in PLATFORM.hosts for w in PLATFORM.warmups(h) if w.profile == WARM]
OV_OPTIONS = OV_SERVER.on(PLATFORM, OV.daemon.host)
assert OV_OPTIONS is not None
#: A model of the active profile; another profile, and a model of it outside the active one.
OV_WARM = OV.models[0][0]
OTHER_PROFILE, OV_OTHER_ONLY = next(
    (name, m)
    for name, members in OV_OPTIONS.profiles.items()
    for m in members
    if name != OV.profile and m not in dict(OV.models)
)
((MLX_WARM, _),) = MLX.models


def warmup_of(platform: Platform, daemon: str) -> Warmup:
    (found,) = [
        w for host in platform.hosts for w in platform.warmups(host) if w.daemon.name == daemon
    ]
    return found


def record(platform: Platform, w: Warmup) -> warm.Warmed:
    output = ssh(w.daemon.host, warm.command(platform, (w,))).stdout
    return warm.read(output.splitlines())[w.daemon.name]


def restart(w: Warmup) -> None:
    """The server restarted by hand (as a crash or a boot would), answering again."""
    d = w.daemon
    ssh(d.host, f"systemctl restart {d.unit}")
    ssh(
        d.host,
        f"curl -fsS -o /dev/null --retry 60 --retry-delay 1 --retry-all-errors {d.health_url}",
    )


def first_answer(platform: Platform, w: Warmup, handle: str) -> float:
    """Seconds to a model's answer, asked at its server as the gateway asks it (the gateway's
    own first-request costs, its clients and callbacks, are not the load measured here)."""
    upstream = dict(w.models).get(handle, handle)
    d = w.daemon
    start = time.monotonic()
    response = httpx.post(
        f"http://{platform.addresses[d.host]}:{d.listener.port}/v1/chat/completions",
        json={"model": upstream, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        timeout=120,
    )
    seconds = time.monotonic() - start
    assert response.status_code == 200, f"{handle}: {response.status_code} {response.text[:300]}"
    return seconds


def warmed_on(results: dict[str, Any]) -> list[str]:
    """The hosts where a deploy's warm-up ran (one operation for every host: its name is the
    first host's)."""
    return sorted(
        host
        for op in results["operations"]
        if op["name"].startswith("Warm up")
        for host in op["success"]
    )


def test_a_warmed_model_answers_its_first_request_without_its_load(lab: dict[str, Any]) -> None:
    platform = load_platform(LAB_INVENTORY)
    deploy()  # converged: every warm-up stands
    ov, mlx = OV, MLX

    # Cold: restarted by hand, nothing warms them.
    restart(ov)
    restart(mlx)
    cold = {
        OV_WARM: first_answer(platform, ov, OV_WARM),
        MLX_WARM: first_answer(platform, mlx, MLX_WARM),
    }

    # Warm: restarted by hand again, then the deploy warms what started (and restarts nothing).
    restart(ov)
    restart(mlx)
    before = main_pids(platform)
    start = time.monotonic()
    results = deploy()
    seconds = time.monotonic() - start
    assert restarted(before, main_pids(platform)) == [], "the deploy restarted a daemon"
    ran = warmed_on(results)
    assert ran == ["mini", "studio"], f"expected both restarted servers warmed, found {ran}"
    warmed = {
        OV_WARM: first_answer(platform, ov, OV_WARM),
        MLX_WARM: first_answer(platform, mlx, MLX_WARM),
    }
    chat(platform, OV_WARM)  # and through the gateway, as a user asks
    recorded = {
        **warm.first_answers(record(platform, ov).record or {}),
        **warm.first_answers(record(platform, mlx).record or {}),
    }
    print(f"\ndeploy that warmed both servers ({', '.join(ran)}): {seconds:.1f} s")
    for handle in (OV_WARM, MLX_WARM):
        print(
            f"{handle}: first answer cold {cold[handle]:.3f} s, warm {warmed[handle]:.3f} s "
            f"(the warm-up's own first answer {recorded[handle]:.3f} s)"
        )
    assert cold[OV_WARM] >= LOAD_SECONDS, (
        f"{OV_WARM}: expected the cold first answer to pay the load ({LOAD_SECONDS} s), "
        f"found {cold[OV_WARM]:.3f} s"
    )
    assert warmed[OV_WARM] < LOAD_SECONDS / 2, (
        f"{OV_WARM}: expected the warmed first answer without the load, found "
        f"{warmed[OV_WARM]:.3f} s"
    )
    assert recorded[OV_WARM] >= LOAD_SECONDS, "the warm-up did not pay the load itself"

    # The next deploy finds every warm-up standing: it asks nothing.
    assert warmed_on(deploy()) == [], "a deploy with every server warm warmed again"


def test_a_deploy_switches_the_active_profile_with_nothing_restarted(
    lab: dict[str, Any],
) -> None:
    platform = load_platform(LAB_INVENTORY)
    ov = OV
    host, key = OV.daemon.host, OV_SERVER.key
    body = (
        f"lab.evolve(hosts={{**lab.hosts, {host!r}: lab.hosts[{host!r}].evolve({key}={{"
        f"**lab.hosts[{host!r}].services[{key!r}].model_dump(), "
        f"'active_profile': {OTHER_PROFILE!r}}})}})"
    )
    deploy()
    with tempfile.TemporaryDirectory() as folder:
        inventory = changed_lab(Path(folder), body)
        safe = warmup_of(load_platform(inventory), OV.daemon.name)
        before = main_pids(platform)
        try:
            start = time.monotonic()
            results = deploy(inventory)
            seconds = time.monotonic() - start
            assert restarted(before, main_pids(platform)) == [], "the switch restarted a daemon"
            found = record(platform, safe).record or {}
            assert found.get("profile") == OTHER_PROFILE, f"expected {OTHER_PROFILE}, found {found}"
            assert not warm.stale_profile(safe, found), found
            switched = first_answer(platform, safe, OV_OTHER_ONLY)
            own = warm.first_answers(found).get(OV_OTHER_ONLY)
            print(
                f"\nprofile switched to {OTHER_PROFILE} in {seconds:.1f} s "
                f"(warmed on {', '.join(warmed_on(results))}); {OV_OTHER_ONLY} first answer "
                f"{switched:.3f} s (the warm-up's own {own} s)"
            )
            assert switched < LOAD_SECONDS / 2, (
                f"{OV_OTHER_ONLY}: expected it warm after the switch, found {switched:.3f} s"
            )
        finally:
            deploy()  # back to the lab's data, its profile warmed again
    back = record(platform, ov).record or {}
    assert back.get("profile") == ov.profile, f"expected {ov.profile} back, found {back}"
