"""The secret store comes back with a backup: ``homelab backup`` fetches it (0600, beside Open
WebUI's copy), Open WebUI's host (the gateway's too, in the lab) loses its secrets (the whole
secrets folder moved aside, as on a rebuilt host) and the deploy makes new ones, then
``homelab restore`` puts the old ones back: the old gateway key answers again and a signed-in
Open WebUI session is still signed in.

The host is not destroyed here (a rebuild takes longer than this test may); what a rebuild
does to the secrets (a new store, new env files) is what moving the folder aside and
deploying does. ``tests/lab/test_backup.py`` checks the key across a real rebuild.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from homelab.backup import plan_for
from homelab.secrets import STORE_SUFFIX, consumers, store_names
from homelab.services import daemons
from tests.lab.conftest import changed, deploy, homelab, ssh
from tests.lab.test_secrets_rotation import HOME, KEY, PLATFORM, REFUSED, gateway_url, store_key

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

#: Open WebUI's data and its host: the store the backup fetches and the restore puts back.
PLAN = plan_for(PLATFORM)
HOST = PLAN.daemon.host
LAYOUT = PLATFORM.host(HOST).layout
WEBUI = f"http://{PLATFORM.addresses[HOST]}:{PLAN.daemon.listener.port}"


def models(key: str) -> int:
    return httpx.get(
        f"{gateway_url()}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ).status_code


def session(token: str) -> int:
    """Open WebUI's answer to a signed-in session's token (200: still signed in)."""
    return httpx.get(
        f"{WEBUI}/api/v1/auths/", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).status_code


def admin_token() -> str:
    password = ssh(HOST, f"cat {PLAN.admin_password_file}").stdout.strip()
    r = httpx.post(
        f"{WEBUI}/api/v1/auths/signin",
        json={"email": PLAN.admin_email, "password": password},
        timeout=60,
    )
    assert r.status_code == 200, r.text[:300]
    token: str = r.json()["token"]
    return token


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> None:
    deploy()


def test_secret_store_survives_losing_it(converged: None, tmp_path: Path) -> None:
    # The story is the gateway key's: it comes back with Open WebUI's copy where both run on
    # one host, as in the lab's data.
    assert HOME == HOST, f"the gateway runs on {HOME}, Open WebUI on {HOST}"
    local = tmp_path / "copies"
    began = time.monotonic()
    fetched = homelab("backup", HOST, "--local", str(local))
    assert fetched.returncode == 0, fetched.stderr
    print(fetched.stdout)
    (copy,) = [p for p in (local / HOST).iterdir() if p.name.endswith(STORE_SUFFIX)]
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    wanted = {r.env for d in daemons(PLATFORM, HOST) if d.enabled for r in d.secrets.values()}
    assert wanted <= set(store_names(copy))

    key, token = store_key(), admin_token()
    assert models(key) == 200 and session(token) == 200
    aside = f"/root/secrets-aside-{int(time.time())}"
    moved = ssh(HOST, f"mv {LAYOUT.secrets} {aside}")
    assert moved.returncode == 0, moved.stderr
    restored = False
    try:
        # As on a rebuilt host: the deploy makes new secrets, the old ones stop working.
        deploy()
        assert store_key() != key
        assert models(key) in REFUSED
        assert session(token) != 200, "a session signed with the lost key still works"

        put_back = homelab("restore", HOST, "--local", str(local))
        assert put_back.returncode == 0, put_back.stderr
        restored = True
        print(put_back.stdout)
        assert f"changed: {KEY}" in put_back.stdout or KEY in put_back.stdout.split("changed:")[1]
        assert store_key() == key
        assert models(key) == 200, "the old gateway key is refused after the restore"
        assert session(token) == 200, "the Open WebUI session did not survive"
        admin_token()
        for d in consumers(PLATFORM, HOST, KEY):
            if d.secrets_env is None:  # handed the key as a credential: nothing of its own
                continue
            mode = ssh(HOST, f"stat -c '%U %a' {d.secrets_env}").stdout.split()
            assert mode == [d.user, "600"], d.name
        again = changed(deploy())
        assert again == [], f"the deploy after the restore changed: {again}"
    finally:
        if restored:
            ssh(HOST, f"rm -rf {aside}")
        else:  # put the host's own secrets back as they were
            ssh(HOST, f"rm -rf {LAYOUT.secrets} && mv {aside} {LAYOUT.secrets}")
            units = " ".join(d.unit for d in daemons(PLATFORM, HOST) if d.secrets_env)
            ssh(HOST, f"systemctl try-restart {units}", timeout=600)
    print(f"secret store lab test: {time.monotonic() - began:.0f} s")
