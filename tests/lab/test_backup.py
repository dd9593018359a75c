"""No data lost: a user and a chat made through Open WebUI's API survive a redeploy, an upgrade
to another pinned release (a copy made before it), its host destroyed and rebuilt, and a
restore of the copy fetched to this machine.

The lab starts on Open WebUI one release back (``lab/previous``) and is upgraded to the lab's
own data; it ends converged to the lab's data with the verify suite green. The session holds
the lab lock (``conftest.lab_lock``) from start to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from homelab import PROJECT_ROOT
from homelab.backup import plan_for, webui_host
from homelab.backup_host import ids_in
from homelab.load import load_platform
from homelab.model import Platform
from homelab.secrets import STORE_SUFFIX
from homelab.services.litellm import gateway, gateway_host
from homelab.services.open_webui import SERVICE as OPEN_WEBUI
from homelab.services.open_webui import OpenWebUI
from tests.lab.conftest import LAB_INVENTORY, changed, deploy, homelab, run_lab, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

PREVIOUS_INVENTORY = PROJECT_ROOT / "lab" / "previous" / "inventory.py"
BACKUP_OP = "Open WebUI | Back up Open WebUI's data before the change"
PASSWORD = "a-long-test-passphrase-1"


def open_webui(platform: Platform) -> OpenWebUI:
    """Open WebUI's options, on the host whose data places it."""
    ow = OPEN_WEBUI.on(platform, webui_host(platform))
    assert ow is not None
    return ow


class WebUI:
    """Open WebUI's API on the lab's host running it, as its users use it."""

    def __init__(self, platform: Platform) -> None:
        self.host = webui_host(platform)
        self.ow = open_webui(platform)
        self.platform = platform
        self.base = f"http://{platform.addresses[self.host]}:{self.ow.listener.port}"

    def signin(self, email: str, password: str) -> str | None:
        r = httpx.post(
            f"{self.base}/api/v1/auths/signin",
            json={"email": email, "password": password},
            timeout=60,
        )
        if r.status_code != 200:
            return None
        token: str = r.json()["token"]
        return token

    def admin(self) -> str:
        ow = self.ow
        store = self.platform.host(self.host).layout.secret_store
        password = ssh(self.host, f"cat {store}/{ow.admin_password.env}").stdout.strip()
        token = self.signin(ow.admin_email, password)
        assert token, "the admin cannot sign in with the host's secret"
        return token

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        r = httpx.request(
            method,
            f"{self.base}{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            **kwargs,
        )
        assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text[:300]}"
        return r.json()

    def version(self) -> str:
        version: str = httpx.get(f"{self.base}/api/version", timeout=30).json()["version"]
        return version


def user_with_chat(ui: WebUI, name: str, title: str) -> tuple[str, str, str, str]:
    """A user made by the admin through the API, signed in, with one chat:
    (email, chat id, chat title, the user's session token)."""
    email = f"{name.lower()}-{int(time.time())}@lab.test"
    ui.call(
        "POST",
        "/api/v1/auths/add",
        ui.admin(),
        json={"name": name, "email": email, "password": PASSWORD, "role": "user"},
    )
    token = ui.signin(email, PASSWORD)
    assert token, f"{email} could not sign in"
    full = f"{title} {email}"
    chat = ui.call(
        "POST",
        "/api/v1/chats/new",
        token,
        json={
            "chat": {
                "title": full,
                "models": [],
                "messages": [{"id": "m1", "role": "user", "content": "remember this"}],
            }
        },
    )
    return email, str(chat["id"]), full, token


def finds(ui: WebUI, email: str, chat_id: str, title: str) -> None:
    """The user signs in with their password and opens their chat."""
    token = ui.signin(email, PASSWORD)
    assert token, f"{email} cannot sign in"
    chat = ui.call("GET", f"/api/v1/chats/{chat_id}", token)
    assert chat["title"] == title
    assert chat["chat"]["messages"][0]["content"] == "remember this"


def host_copies(platform: Platform) -> list[str]:
    plan = plan_for(platform)
    return ids_in(ssh(plan.daemon.host, f"ls -1 {plan.dest} 2>/dev/null").stdout.split())


def manifest(platform: Platform, copy: str) -> str:
    plan = plan_for(platform)
    path = f"{plan.dest}/{copy}.tar.gz"
    return ssh(plan.daemon.host, f"tar -xzOf {path} {copy}/manifest.json").stdout


def gateway_key(platform: Platform) -> str:
    home = gateway_host(platform)
    path = platform.host(home).layout.secret_file(platform.gateway.proxy_key.env)
    return ssh(home, f"cat {path}").stdout.strip()


def gateway_models(platform: Platform, key: str) -> int:
    port = gateway(platform).listener.port
    url = f"http://{platform.addresses[gateway_host(platform)]}:{port}/v1/models"
    return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code


def started_at(host: str, unit: str) -> str:
    return ssh(host, f"systemctl show -p ActiveEnterTimestamp {unit}").stdout.strip()


def test_user_and_chat_survive_upgrade_and_rebuild(lab: dict[str, Any], tmp_path: Path) -> None:
    platform = load_platform(LAB_INVENTORY)
    previous = load_platform(PREVIOUS_INVENTORY)
    host = webui_host(platform)
    assert webui_host(previous) == host
    old = open_webui(previous).package.version
    new = open_webui(platform).package.version
    assert old != new
    ui = WebUI(platform)
    unit = plan_for(platform).daemon.unit
    local = tmp_path / "copies"
    began = time.monotonic()
    try:
        # One pinned release, then a user and a chat made through the API.
        deploy(PREVIOUS_INVENTORY)
        assert ui.version() == old
        email, chat_id, title, token = user_with_chat(ui, "Ada", "kept")
        finds(ui, email, chat_id, title)

        # A redeploy changes nothing of Open WebUI: no copy, no restart.
        before = started_at(host, unit)
        copies = host_copies(platform)
        again = changed(deploy(PREVIOUS_INVENTORY))
        assert not [op for op in again if op.startswith(BACKUP_OP)], again
        assert started_at(host, unit) == before
        assert host_copies(platform) == copies
        finds(ui, email, chat_id, title)

        # The upgrade: a copy of the data first, made from the release that wrote it.
        upgrade = changed(deploy(LAB_INVENTORY))
        made = [op for op in upgrade if op.startswith(BACKUP_OP)]
        assert made and f"open-webui=={new}" in made[0], upgrade
        assert upgrade.index(made[0]) < upgrade.index(
            f"Open WebUI | Restart {unit} (its files changed)"
        )
        (copy,) = [c for c in host_copies(platform) if c not in copies]
        assert copy.endswith("-deploy")
        assert f'"version": "{old}"' in manifest(platform, copy)
        assert len(host_copies(platform)) <= open_webui(platform).backups.keep
        assert ui.version() == new
        finds(ui, email, chat_id, title)

        # A copy fetched here, then the host rebuilt from nothing: the user is gone.
        fetched = homelab("backup", host, "--local", str(local))
        assert fetched.returncode == 0, fetched.stderr
        print(fetched.stdout)
        (archive,) = [
            p
            for p in (local / host).iterdir()
            if p.name.endswith(".tar.gz") and not p.name.endswith(STORE_SUFFIX)
        ]
        assert archive.stat().st_size > 0
        # The host's secret store goes with the copy (0600): Open WebUI's signing key, and the
        # gateway key where the gateway runs beside it.
        key = gateway_key(platform)
        assert (local / host / f"{archive.name.removesuffix('.tar.gz')}{STORE_SUFFIX}").is_file()
        destroyed = run_lab("destroy", host)
        assert destroyed.returncode == 0, destroyed.stderr
        up = run_lab("up")
        assert up.returncode == 0, up.stderr
        deploy(LAB_INVENTORY)
        assert host_copies(platform) == []
        assert ui.signin(email, PASSWORD) is None

        # Restored: both found again, the admin signs in with the rebuilt host's secret.
        restored = homelab("restore", host, "--local", str(local))
        assert restored.returncode == 0, restored.stderr
        print(restored.stdout)
        assert archive.name.removesuffix(".tar.gz") in restored.stdout
        finds(ui, email, chat_id, title)
        ui.admin()
        # The old gateway key answers again; the session signed in before the rebuild too.
        assert gateway_key(platform) == key
        assert gateway_models(platform, key) == 200
        ui.call("GET", "/api/v1/auths/", token)
        owner = ssh(host, f"stat -c '%U %a' {plan_for(platform).database}").stdout.split()
        assert owner == [plan_for(platform).daemon.user, "600"]
    finally:
        run_lab("up")  # at once when the lab is up; brings the host back if a step failed
        converged = deploy(LAB_INVENTORY)
    assert changed(converged) == [], "the restore left something for the deploy to change"
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "verify",
            "--inventory",
            str(LAB_INVENTORY),
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout[-3000:]
    print(f"backup lab test: {time.monotonic() - began:.0f} s; copy {archive.stat().st_size} B")
