"""Secret-bearing files: their service's alone, mode 0600, and no secret value in git."""

from __future__ import annotations

import subprocess
from typing import Any

from homelab import PROJECT_ROOT
from homelab.model import Platform, Role
from homelab.services import Daemon


def test_secrets_env_is_its_services_alone(secret_daemon: Daemon, host: Any) -> None:
    d = secret_daemon
    assert d.secrets_env is not None
    f = host.file(d.secrets_env)
    assert f.exists, f"{d.name}: expected {d.secrets_env}, found none"
    found = (f.user, oct(f.mode))
    assert found == (d.user, "0o600"), (
        f"{d.name}: expected {d.secrets_env} {d.user} 0o600, found {found[0]} {found[1]}"
    )


def test_secret_store_is_root_only(hosts: dict[Role, Any], platform: Platform) -> None:
    for role, h in hosts.items():
        store = h.file(platform.host(role).layout.secret_store)
        found = (store.user, oct(store.mode))
        assert found == ("root", "0o700"), f"{role}: secret store is {found}, expected root 0o700"


def test_no_secret_value_is_in_git(hosts: dict[Role, Any], platform: Platform) -> None:
    for role, h in hosts.items():
        store = platform.host(role).layout.secret_store
        names = h.check_output(f"ls -1 {store}").split()
        for name in names:
            value = h.file(f"{store}/{name}").content_string.strip()
            if not value:
                continue
            hit = subprocess.run(
                ["git", "grep", "-F", "-q", "-e", value], cwd=PROJECT_ROOT, check=False
            )
            assert hit.returncode == 1, f"{role}: the value of secret {name} is in git"
