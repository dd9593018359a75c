"""The gateway's config check starts before the services deploy when the host already has the
gateway's venv and checker (a day-two change), and its guard reads that verdict (planned on
pyinfra's fake connector; a new host's plan, which checks at the guard, is in
``test_mini_plan``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploys.litellm import CHECKER, checker_path
from deploys.state import sha1
from homelab.locks import lock_for, locked_venv_target
from homelab.model import Platform
from homelab.services import Daemon, daemon_named
from homelab.services.litellm import gateway_host
from tests.fast.fakeplan import first, planned_commands

SNAPSHOT = "systemctl show -p Id -p ActiveState -p UnitFileState"


def gateway(platform: Platform) -> Daemon:
    return daemon_named(platform, gateway_host(platform), "litellm")


def has_gateway(d: Daemon) -> list[str]:
    """The snapshot's lines of a host running the gateway on its current venv and checker."""
    target = locked_venv_target(lock_for(d), d.install_dir)
    return [
        f"P\t{d.venv}\tl\t777\troot\troot\t{target}",
        f"P\t{checker_path(d)}\tf\t644\troot\troot\t{sha1(CHECKER.read_text())}",
        f"S\t{d.unit}\tactive\tenabled",
    ]


@pytest.fixture(scope="module")
def day_two(tmp_path_factory: pytest.TempPathFactory, platform: Platform) -> list[str]:
    d = gateway(platform)
    folder: Path = tmp_path_factory.mktemp("early")
    return planned_commands(folder, d.host, {d.host: {SNAPSHOT: has_gateway(d)}})


def guard(commands: list[str], d: Daemon) -> str:
    return commands[first(commands, "the config's guard", "refused: ", d.config or "")]


def test_the_check_starts_before_any_service_deploys(
    day_two: list[str], platform: Platform
) -> None:
    d = gateway(platform)
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
    line = guard(day_two, gateway(platform))
    assert "router.yaml.early." in line and "-c --status --strict" in line, (
        f"expected the guard to read the early verdict for the same files, found: {line[:300]}"
    )
