"""Restarts nobody notices: a socket-activated service's socket outlives its process.

Open WebUI takes about 12 s to start on two cores; it used to bind its own port, so every
restart refused connections that long. Now systemd holds its socket: a reader polling its
health page through a restart sees requests wait, none refused, none failed.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from bench.lab import Lab
from bench.restarts import Restart, first_enabled, restart_under_reader
from homelab.load import load_platform
from homelab.model import Platform
from homelab.services.open_webui import SERVICE as OPEN_WEBUI
from tests.lab.conftest import LAB_INVENTORY, deploy

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]


@pytest.fixture(scope="module")
def lab_platform(lab: dict[str, Any]) -> Platform:
    deploy()  # the lab as its data says, whatever state it was in
    return load_platform(LAB_INVENTORY)


@pytest.fixture(scope="module")
def webui_restart(lab_platform: Platform) -> Restart:
    daemon = first_enabled(lab_platform, OPEN_WEBUI.name)
    restart = restart_under_reader(Lab.load(), lab_platform, daemon)
    print(f"\n{restart.summary()}")
    return restart


def test_an_open_webui_restart_refuses_no_connection(webui_restart: Restart) -> None:
    assert webui_restart.refused == 0, webui_restart.summary()


def test_an_open_webui_restart_fails_no_request(webui_restart: Restart) -> None:
    assert webui_restart.window.failed == [], webui_restart.window.failed[:3]


def test_requests_during_the_restart_waited_for_the_new_process(webui_restart: Restart) -> None:
    # Otherwise the restart fell between two requests and proved nothing.
    assert webui_restart.delayed >= 1, webui_restart.summary()
