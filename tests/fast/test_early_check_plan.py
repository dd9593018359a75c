"""The gateway's config check starts before the services deploy when the host already has the
gateway's venv and checker (a day-two change), and its guard reads that verdict (planned on
pyinfra's fake connector; a new host's plan, which checks at the guard, is in
``test_mini_plan``)."""

from __future__ import annotations

import pytest

from homelab.model import Platform
from homelab.services import Daemon, daemon_named
from tests.fast import running_gateway
from tests.fast.fakeplan import first


@pytest.fixture(scope="module")
def day_two() -> list[str]:
    return list(running_gateway.plan())


def guard(commands: list[str], d: Daemon) -> str:
    return commands[first(commands, "the config's guard", "refused: ", d.config or "")]


def test_the_check_starts_before_any_service_deploys(
    day_two: list[str], platform: Platform
) -> None:
    d = running_gateway.gateway()
    start = first(day_two, "the early check's start", "nohup sh -c", "router.yaml.early")
    searxng = daemon_named(platform, d.host, "searxng")
    first_service = first(
        day_two, "the first service's unit placed", "install -o ", f" {searxng.unit_path}"
    )
    assert start < first_service, (
        f"expected the check started before the services deploy ({start} > {first_service})"
    )


def test_the_early_check_reads_the_env_file_as_it_will_be_placed(
    day_two: list[str], platform: Platform
) -> None:
    start = day_two[first(day_two, "the early check's start", "nohup sh -c")]
    assert "env.early" in start, f"expected the staged env file read, found: {start[:300]}"


def test_the_guard_takes_the_early_verdict(day_two: list[str], platform: Platform) -> None:
    line = guard(day_two, running_gateway.gateway())
    assert "router.yaml.early." in line and "-c --status --strict" in line, (
        f"expected the guard to read the early verdict for the same files, found: {line[:300]}"
    )
