"""No data lost: a user and a chat made through Open WebUI's API survive a redeploy, an upgrade
to another pinned release (a copy made before it), the Mini destroyed and rebuilt, and a
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
from homelab.backup import plan_for
from homelab.backup_host import ids_in
from homelab.load import load_platform
from homelab.model import Platform
from homelab.secrets import STORE_SUFFIX
from tests.lab.conftest import LAB_INVENTORY, changed, deploy, homelab, run_lab, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

PREVIOUS_INVENTORY = PROJECT_ROOT / "lab" / "previous" / "inventory.py"
BACKUP_OP = "Open WebUI | Back up Open WebUI's data before the change"
PASSWORD = "a-long-test-passphrase-1"


class WebUI:
    """Open WebUI's API on the lab's Mini, as its users use it."""

    def __init__(self, platform: Platform) -> None:
        ow = platform.mini.open_webui
        self.platform = platform
        self.base = f"http://{platform.addresses['mini']}:{ow.listener.port}"

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
        ow = self.platform.mini.open_webui
        store = self.platform.mini.layout.secret_store
        password = ssh("mini", f"cat {store}/{ow.admin_password.env}").stdout.strip()
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
    dest = plan_for(platform).dest
    return ids_in(ssh("mini", f"ls -1 {dest} 2>/dev/null").stdout.split())


def manifest(platform: Platform, copy: str) -> str:
    path = f"{plan_for(platform).dest}/{copy}.tar.gz"
    return ssh("mini", f"tar -xzOf {path} {copy}/manifest.json").stdout


def gateway_key(platform: Platform) -> str:
    path = platform.mini.layout.secret_file(platform.gateway.proxy_key.env)
    return ssh("mini", f"cat {path}").stdout.strip()


def gateway_models(platform: Platform, key: str) -> int:
    port = platform.mini.litellm.listener.port
    url = f"http://{platform.addresses['mini']}:{port}/v1/models"
    return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code


def started_at(unit: str) -> str:
    return ssh("mini", f"systemctl show -p ActiveEnterTimestamp {unit}").stdout.strip()


def test_user_and_chat_survive_upgrade_and_rebuild(lab: dict[str, Any], tmp_path: Path) -> None:
    platform = load_platform(LAB_INVENTORY)
    previous = load_platform(PREVIOUS_INVENTORY)
    old = previous.mini.open_webui.package.version
    new = platform.mini.open_webui.package.version
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
        before = started_at(unit)
        copies = host_copies(platform)
        again = changed(deploy(PREVIOUS_INVENTORY))
        assert not [op for op in again if op.startswith(BACKUP_OP)], again
        assert started_at(unit) == before
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
        assert len(host_copies(platform)) <= platform.mini.open_webui.backups.keep
        assert ui.version() == new
        finds(ui, email, chat_id, title)

        # A copy fetched here, then the Mini rebuilt from nothing: the user is gone.
        fetched = homelab("backup", "mini", "--local", str(local))
        assert fetched.returncode == 0, fetched.stderr
        print(fetched.stdout)
        (archive,) = [
            p
            for p in (local / "mini").iterdir()
            if p.name.endswith(".tar.gz") and not p.name.endswith(STORE_SUFFIX)
        ]
        assert archive.stat().st_size > 0
        # The gateway key and Open WebUI's signing key go with the copy (the store, 0600).
        key = gateway_key(platform)
        assert (local / "mini" / f"{archive.name.removesuffix('.tar.gz')}{STORE_SUFFIX}").is_file()
        destroyed = run_lab("destroy", "mini")
        assert destroyed.returncode == 0, destroyed.stderr
        up = run_lab("up")
        assert up.returncode == 0, up.stderr
        deploy(LAB_INVENTORY)
        assert host_copies(platform) == []
        assert ui.signin(email, PASSWORD) is None

        # Restored: both found again, the admin signs in with the rebuilt host's secret.
        restored = homelab("restore", "mini", "--local", str(local))
        assert restored.returncode == 0, restored.stderr
        print(restored.stdout)
        assert archive.name.removesuffix(".tar.gz") in restored.stdout
        finds(ui, email, chat_id, title)
        ui.admin()
        # The old gateway key answers again; the session signed in before the rebuild too.
        assert gateway_key(platform) == key
        assert gateway_models(platform, key) == 200
        ui.call("GET", "/api/v1/auths/", token)
        owner = ssh("mini", f"stat -c '%U %a' {plan_for(platform).database}").stdout.split()
        assert owner == [plan_for(platform).daemon.user, "600"]
    finally:
        run_lab("up")  # at once when the lab is up; brings the Mini back if a step failed
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
