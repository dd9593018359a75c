"""A bad change is refused on the host before it replaces the running config: the deploy
stops naming the problem, the live file stays, the service is not restarted, and the gateway
answers throughout."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from deploys.files import EARLY_MARK
from homelab import PROJECT_ROOT
from homelab.load import load_platform
from homelab.services import Daemon, daemon_named
from homelab.services.litellm import gateway, gateway_host
from tests.lab.conftest import LAB_INVENTORY, deploy, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]


@dataclass(frozen=True)
class BadChange:
    name: str
    #: The daemon whose file is broken, on the host the deploy is limited to.
    daemon: Daemon
    path: str
    problem: str


PLATFORM = load_platform(LAB_INVENTORY)
GATEWAY_HOST = gateway_host(PLATFORM)
LITELLM = daemon_named(PLATFORM, GATEWAY_HOST, "litellm")
(SEARXNG,) = [d for d in PLATFORM.enabled_daemons() if d.name == "searxng"]
CHANGES = [
    BadChange(
        "litellm",
        LITELLM,
        str(LITELLM.config),
        "os.environ/HOMELAB_NEVER_SET is referenced but not set",
    ),
    BadChange(
        "litellm-early",
        LITELLM,
        str(LITELLM.config),
        "os.environ/HOMELAB_NEVER_SET is referenced but not set",
    ),
    BadChange("searxng", SEARXNG, str(SEARXNG.config), "engines that did not load: nowhere"),
    BadChange("unit", LITELLM, LITELLM.unit_path, "Failed to parse service restart specifier"),
]


def fingerprint(change: BadChange) -> str:
    """The live file's hash and when its service last started."""
    unit = change.daemon.unit
    result = ssh(
        change.daemon.host,
        f"sha256sum {change.path} && systemctl show -p ActiveEnterTimestamp -p NRestarts {unit}",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class Watch(threading.Thread):
    """Polls the gateway from outside its host, as a LAN client, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.polls = url, 0
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.done.is_set():
                try:
                    code = client.get(self.url).status_code
                    if code != 200:
                        self.failures.append(str(code))
                except httpx.HTTPError as error:
                    self.failures.append(type(error).__name__)
                self.polls += 1
                time.sleep(0.2)


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> None:
    deploy()


@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_a_bad_change_is_refused_and_the_gateway_keeps_answering(
    converged: None, change: BadChange
) -> None:
    before = fingerprint(change)
    listener = gateway(PLATFORM).listener
    watch = Watch(f"http://{PLATFORM.addresses[GATEWAY_HOST]}:{listener.port}/health/liveliness")
    watch.start()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pyinfra",
                str(LAB_INVENTORY),
                "tests/lab/deploys/bad_change.py",
                "--limit",
                change.daemon.host,
                "--data",
                f"bad_change={change.name}",
                "-y",
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        watch.done.set()
        watch.join()
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{change.name}: the bad change was accepted:\n{output[-2000:]}"
    assert change.problem in output, f"{change.name}: the refusal does not name the problem"
    assert f"refused: {change.path} stays as it was" in output
    if change.name.endswith("-early"):
        assert EARLY_MARK in output, "expected the refusal to be the early check's verdict"
    assert fingerprint(change) == before, f"{change.path} or its service changed"
    assert watch.polls > 5, "the gateway was not watched during the deploy"
    assert not watch.failures, f"the gateway failed {len(watch.failures)} of {watch.polls} polls"
