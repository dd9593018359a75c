"""The gateway key rotated on the lab's gateway host with a steady client on the gateway
throughout.

The client is a LAN client of the gateway that does what a restarted consumer does: it sends
its key, and when the gateway refuses it, it reads the key again (from the gateway host's
store, where the operator would look) and goes on. The test prints the requests sent, the
failed ones by kind, the window (first to last failure) and the p99 latency of the answered
ones; then checks the old key is refused, the new one answers, Open WebUI lists and chats
through the gateway, OptiLLM's handle answers (OptiLLM calls the gateway back with the key),
and a deploy after the rotation changes nothing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from homelab import PROJECT_ROOT
from homelab.backup import webui_host
from homelab.load import load_platform
from homelab.model import Platform
from homelab.model.naming import Backend
from homelab.secrets import consumers
from homelab.services.litellm import gateway, gateway_host
from homelab.services.open_webui import SERVICE as OPEN_WEBUI
from tests.lab.conftest import LAB_INVENTORY, changed, deploy, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

PLATFORM = load_platform(LAB_INVENTORY)
KEY = PLATFORM.gateway.proxy_key.env
#: The host whose store holds the gateway key (made there, rotated there).
HOME = gateway_host(PLATFORM)
#: The MLX handle the chats use: the first the gateway serves.
MLX_HANDLE = next(h.handle for h in PLATFORM.handles() if h.backend is Backend.MLX)
#: What LiteLLM answers a key it does not know (400 "No connected db." without a database).
REFUSED = (400, 401, 403)


def store_key(platform: Platform = PLATFORM) -> str:
    home = gateway_host(platform)
    path = platform.host(home).layout.secret_file(KEY)
    # As an operator reads it; from a thread of this process, so a process of its own.
    result = ssh(home, f"cat {path}", timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def gateway_url(platform: Platform = PLATFORM) -> str:
    home = gateway_host(platform)
    return f"http://{platform.addresses[home]}:{gateway(platform).listener.port}"


class Steady(threading.Thread):
    """GET /v1/models with the key, every 50 ms; on a refusal it reads the key again."""

    def __init__(self, key: str) -> None:
        super().__init__(daemon=True)
        self.key = key
        self.sent = self.rereads = 0
        self.failures: list[tuple[float, str]] = []
        self.latencies: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=gateway_url(), timeout=10) as client:
            while not self.done.is_set():
                began = time.monotonic()
                try:
                    r = client.get("/v1/models", headers={"Authorization": f"Bearer {self.key}"})
                    outcome = str(r.status_code)
                except httpx.HTTPError as error:
                    outcome = type(error).__name__
                self.sent += 1
                if outcome == "200":
                    self.latencies.append(time.monotonic() - began)
                else:
                    self.failures.append((began, outcome))
                    if outcome in {str(c) for c in REFUSED}:
                        self.key = store_key()
                        self.rereads += 1
                time.sleep(0.05)

    def report(self) -> str:
        kinds: dict[str, int] = {}
        for _, kind in self.failures:
            kinds[kind] = kinds.get(kind, 0) + 1
        window = self.failures[-1][0] - self.failures[0][0] if self.failures else 0.0
        p99 = statistics.quantiles(self.latencies, n=100)[98] if len(self.latencies) > 1 else 0
        return (
            f"steady client: {len(self.failures)} of {self.sent} requests failed "
            f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items())) or 'none'}); "
            f"window {window:.1f} s; key read again {self.rereads} time(s); "
            f"p99 of answered {p99 * 1000:.0f} ms"
        )


def chat(key: str, handle: str) -> httpx.Response:
    return httpx.post(
        f"{gateway_url()}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": handle, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        timeout=180,
    )


def webui_chat(handle: str) -> tuple[set[str], httpx.Response]:
    """Open WebUI's admin signs in, lists the models it gets from the gateway, chats."""
    host = webui_host(PLATFORM)
    ow = OPEN_WEBUI.on(PLATFORM, host)
    assert ow is not None
    store = PLATFORM.host(host).layout.secret_file(ow.admin_password.env)
    password = ssh(host, f"cat {store}")
    base = f"http://{PLATFORM.addresses[host]}:{ow.listener.port}"
    with httpx.Client(base_url=base, timeout=180) as client:
        signin = client.post(
            "/api/v1/auths/signin",
            json={"email": ow.admin_email, "password": password.stdout.strip()},
        )
        assert signin.status_code == 200, signin.text[:300]
        auth = {"Authorization": f"Bearer {signin.json()['token']}"}
        models = client.get("/api/models", headers=auth)
        assert models.status_code == 200, models.text[:300]
        listed = {m["id"] for m in models.json()["data"]}
        reply = client.post(
            "/api/chat/completions",
            headers=auth,
            json={
                "model": handle,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": False,
                "max_tokens": 4,
            },
        )
    return listed, reply


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> None:
    deploy()


def test_gateway_key_rotation_with_a_steady_client(converged: None) -> None:
    readers = {d.name for d in consumers(PLATFORM, HOME, KEY)}
    old = store_key()
    assert chat(old, MLX_HANDLE).status_code == 200, "the lab is not serving before"
    steady = Steady(key=old)
    steady.start()
    time.sleep(3)
    began = time.monotonic()
    try:
        rotated = subprocess.run(
            [
                sys.executable,
                "-m",
                "homelab.cli",
                "rotate",
                HOME,
                KEY,
                "--inventory",
                str(LAB_INVENTORY),
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        took = time.monotonic() - began
        time.sleep(5)  # the client goes on after the rotation returned
    finally:
        steady.done.set()
        steady.join()
    print(rotated.stdout)
    print(f"rotation: {took:.1f} s; " + steady.report())
    assert rotated.returncode == 0, rotated.stderr
    assert f"rotated {KEY} on {HOME}" in rotated.stdout
    brought_on = " ".join(
        rotated.stdout.split(line)[1].splitlines()[0]
        for line in ("reloaded (first):", "restarted (after it):")
    )
    for name in readers:
        assert name in rotated.stdout.split("env files rewritten:")[1].splitlines()[0], name
        assert name in brought_on, f"{name}: neither reloaded nor restarted: {rotated.stdout}"

    new = store_key()
    assert new != old and len(new) == 64
    assert steady.key == new, "the steady client never got the new key"
    assert steady.latencies and steady.failures[-1][0] < time.monotonic() - 5, (
        "the steady client still failed after the rotation returned"
    )
    assert chat(old, MLX_HANDLE).status_code in REFUSED, "the old key still answers"
    assert chat(new, MLX_HANDLE).status_code == 200

    # OptiLLM calls the gateway back with the key it read at its restart.
    (opt,) = [r.handle for r in PLATFORM.routes() if r.backend is Backend.OPT]
    answer = chat(new, opt)
    assert answer.status_code == 200, f"{opt}: {answer.status_code} {answer.text[:300]}"

    # Open WebUI lists the gateway's models and chats through it with the new key.
    listed, reply = webui_chat(MLX_HANDLE)
    expected = {r.handle for r in PLATFORM.routes() if not r.internal}
    assert expected <= listed, f"Open WebUI lists {sorted(listed)}"
    assert reply.status_code == 200, f"Open WebUI chat: {reply.status_code} {reply.text[:300]}"
    assert reply.json()["choices"][0]["message"]["content"] is not None

    # The deploy agrees with what the rotation left: nothing to change, nothing generated.
    again = changed(deploy())
    assert again == [], f"a deploy after the rotation changed: {again}"
    assert store_key() == new
