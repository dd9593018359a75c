"""A deploy that restarts a running gateway hands over: its handover unit serves on the
gateway's socket from before the restart until after it (planned on pyinfra's fake connector,
the gateway's host answering that the gateway runs)."""

from __future__ import annotations

import pytest

from homelab.model import Platform
from homelab.services import daemon_named
from homelab.services.litellm import gateway_host
from tests.fast import running_gateway
from tests.fast.fakeplan import first


@pytest.fixture(scope="module")
def restarted() -> list[str]:
    """The plan of a host running the gateway: its unit is not the rendered one yet."""
    return list(running_gateway.plan())


@pytest.fixture(scope="module")
def steps(restarted: list[str], platform: Platform) -> tuple[int, int, int]:
    """Where in the plan the handover starts, the gateway restarts and the handover stops."""
    gw = daemon_named(platform, gateway_host(platform), "litellm")
    return (
        first(restarted, "the handover started", f"systemctl start {gw.handover_unit}"),
        first(restarted, "the gateway restarted", f"systemctl restart {gw.unit}"),
        first(restarted, "the handover stopped", f"systemctl stop {gw.handover_unit}"),
    )


def test_the_handover_serves_before_the_gateway_restarts(steps: tuple[int, int, int]) -> None:
    start, restart, _ = steps
    assert start < restart, f"the handover starts at {start}, after the restart at {restart}"


def test_the_handover_stops_once_the_gateway_has_restarted(steps: tuple[int, int, int]) -> None:
    _, restart, stop = steps
    assert restart < stop, f"the handover stops at {stop}, before the restart at {restart}"
