"""A good change to the gateway drops no request of a steady client.

A change to router.yaml alone (``num_retries``) reloads LiteLLM: gunicorn forks new workers,
which read it, while the old ones finish their requests; the main process stays. A change to
its environment (the log level) restarts it while systemd keeps its listening socket open:
requests that arrive meanwhile wait in the socket's queue for the new process instead of being
refused. A steady client sends chat requests to an ``ov-*`` handle throughout (and, through the
restarts, a second one to an MLX handle through OptiLLM, which calls the gateway back for the
model: a request in flight at the stop waits on a call only the next process takes); the test
prints what they saw (failures, median and p99 latency).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench.lab import lan_gateway_url
from bench.steady import SteadyClient
from bench.variant import changed_lab
from homelab.load import load_platform
from homelab.model import Backend, Platform
from homelab.services import daemon_named
from homelab.services.litellm import LiteLLM, gateway, gateway_host
from tests.lab.conftest import LAB_INVENTORY, changed, deploy, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]


def variant(folder: Path, home: str, retries: int, log_level: str | None) -> Path:
    """The lab's data with the gateway's retries and log level (on its host, ``home``)
    changed; its inventory."""
    on = f"lab.hosts[{home!r}]"
    litellm = f"{on}.services[{LiteLLM.key!r}]"
    return changed_lab(
        folder,
        f"""lab.evolve(
            gateway=lab.gateway.evolve(router=lab.gateway.router.evolve(num_retries={retries})),
            hosts={{
                **lab.hosts,
                {home!r}: {on}.evolve({LiteLLM.key}={litellm}.evolve(log_level={log_level!r})),
            }},
        )""",
    )


def main_pid(platform: Platform) -> str:
    home = gateway_host(platform)
    unit = daemon_named(platform, home, "litellm").unit
    return ssh(home, f"systemctl show -p MainPID --value {unit}").stdout.strip()


def workers(platform: Platform) -> set[str]:
    pid = main_pid(platform)
    home = gateway_host(platform)
    return set(ssh(home, f"cat /proc/{pid}/task/{pid}/children").stdout.split())


def key(platform: Platform) -> str:
    home = gateway_host(platform)
    path = platform.host(home).layout.secret_file(platform.gateway.proxy_key.env)
    return ssh(home, f"cat {path}").stdout.strip()


@pytest.fixture(scope="module")
def lab_platform(lab: dict[str, Any]) -> Platform:
    deploy()  # the lab as its data says, whatever state it was in
    return load_platform(LAB_INVENTORY)


def client(platform: Platform, backend: Backend = Backend.OV) -> SteadyClient:
    """A LAN client of the gateway, chatting with the first handle of ``backend`` (an MLX
    handle goes through OptiLLM, which calls the gateway back for the model)."""
    url = lan_gateway_url(platform, "/v1/chat/completions")
    handle = next(h.handle for h in platform.handles() if h.backend is backend)
    return SteadyClient(url=url, key=key(platform), handle=handle)


def test_a_config_change_drops_nothing(lab_platform: Platform, tmp_path: Path) -> None:
    retries = lab_platform.gateway.router.num_retries + 1
    level = gateway(lab_platform).log_level
    inventory = variant(tmp_path / "retries", gateway_host(lab_platform), retries, level)
    before, old_workers = main_pid(lab_platform), workers(lab_platform)
    try:
        with client(lab_platform) as steady:
            ops = changed(deploy(inventory))
        print(f"\nnum_retries change: {steady.summary()}")
        assert "LiteLLM gateway | Reload litellm.service (its config changed)" in ops, ops
        assert not [op for op in ops if "Restart litellm" in op], ops
        assert main_pid(lab_platform) == before, "a config change restarted the gateway"
        now = workers(lab_platform)
        # The master's children: its workers, and a helper of LiteLLM's own that stays.
        assert len(old_workers - now) >= gateway(lab_platform).worker_count, (
            f"the old workers still serve: {sorted(old_workers)} before, {sorted(now)} after"
        )
        assert steady.failed == [], steady.failed[:3]
        assert len(steady.outcomes) > 20, steady.summary()
    finally:
        deploy()


def test_a_restart_keeps_the_socket_and_drops_nothing(
    lab_platform: Platform, tmp_path: Path
) -> None:
    level = "ERROR" if gateway(lab_platform).log_level != "ERROR" else "WARNING"
    retries = lab_platform.gateway.router.num_retries
    inventory = variant(tmp_path / "level", gateway_host(lab_platform), retries, level)
    before = main_pid(lab_platform)
    with client(lab_platform) as steady, client(lab_platform, Backend.MLX) as through_optillm:
        ops = changed(deploy(inventory))
        assert "LiteLLM gateway | Restart litellm.service (its files changed)" in ops, ops
        assert main_pid(lab_platform) != before
        ops = changed(deploy())  # and back
    print(f"\nrestarted twice, ov: {steady.summary()}")
    print(f"restarted twice, mlx through OptiLLM: {through_optillm.summary()}")
    assert steady.failed == [], steady.failed[:3]
    assert len(steady.outcomes) > 20, steady.summary()
    # A request in flight at the stop waits on OptiLLM's call back to the gateway.
    assert through_optillm.failed == [], through_optillm.failed[:3]
    assert len(through_optillm.outcomes) > 20, through_optillm.summary()
