"""Secrets are never lost or replaced by accident: the deploy's refusal planned on @fake, the
rotation's and the store's shell read back, the command's argument errors. No host."""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.model import Platform
from homelab.secrets import (
    STORE_SUFFIX,
    consumers,
    credential_marks,
    outside_readers,
    put_back_script,
    refusal,
    rotation_script,
    store_copy,
    store_names,
    waves,
)
from homelab.services import daemon_named, daemons
from homelab.services.mcp_tools import McpTools
from tests.fast.fakeplan import Responses, plan, sent
from tests.fast.inprocess import homelab


def answers(platform: Platform, names: list[str], *services: str) -> Responses:
    """Fake answers: the Mini's store lists ``names``; these services' secrets env files exist
    (the deploy's snapshot shows them)."""
    store = platform.host("mini").layout.secret_store
    envs = [f"P\t{store}\td\t700\troot\troot\t"]
    for name in services:
        d = daemon_named(platform, "mini", name)
        assert d.secrets_env
        envs.append(f"P\t{d.secrets_env}\tf\t600\t{d.user}\t{d.user}\t0")
    return {
        re.compile(rf"^find {store} "): [f"{store}/{n}" for n in names],
        re.compile(r"^for p in "): envs,
    }


def mini_secret_names(platform: Platform) -> list[str]:
    return sorted(
        {r.env for d in daemons(platform, "mini") if d.enabled for r in d.secrets.values()}
    )


# --- the deploy's refusal ---------------------------------------------------------------------


def test_refusal_names_the_reference_the_services_and_what_the_host_has() -> None:
    line = refusal(
        {"litellm": {"LITELLM_PROXY_KYE"}, "open-webui": {"LITELLM_PROXY_KYE", "WEBUI_SECRET_KEY"}},
        {"LITELLM_PROXY_KEY", "WEBUI_SECRET_KEY", "OPTILLM_API_KEY"},
    )
    assert line == (
        "refused: litellm, open-webui need LITELLM_PROXY_KYE, which this host has never had; "
        "it has LITELLM_PROXY_KEY, OPTILLM_API_KEY, WEBUI_SECRET_KEY "
        "(renamed? a new secret on purpose: homelab rotate HOST LITELLM_PROXY_KYE)"
    )
    assert "\n" not in line


def test_no_refusal_when_every_settled_service_has_its_secrets() -> None:
    assert refusal({"litellm": {"A"}}, {"A", "B"}) is None
    assert refusal({}, set()) is None


def test_a_renamed_gateway_key_is_refused_before_anything_changes(
    platform: Platform, tmp_path: Path
) -> None:
    """The host has every secret the data names but the gateway key, under another name (as
    after a typo in the data): its services are deployed (their env files exist)."""
    key = platform.gateway.proxy_key.env
    renamed = "LITELLM_PROXY_KYE"
    have = [n for n in mini_secret_names(platform) if n != key] + [renamed]
    # The services whose env file names it (a credential reader's unit names the store file).
    readers = [d.name for d in consumers(platform, "mini", key) if d.secrets_env]
    assert {"litellm", "open-webui", "optillm"} <= set(readers)
    settled = [d.name for d in daemons(platform, "mini") if d.enabled and d.secrets_env]
    result = plan(tmp_path, "mini", {"mini": answers(platform, have, *settled)})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    (line,) = [line for line in output.splitlines() if "refused:" in line]
    assert f"{', '.join(sorted(readers))} need {key}, which this host has never had" in line
    assert f"it has {', '.join(sorted(have))} (renamed?" in line
    # Only facts were gathered: the deploy's snapshot and the store's listing, nothing else.
    commands = sent(output, "mini")
    assert commands, "no fact was gathered"
    for command in commands:
        assert command.startswith(("find ", "for p in ")), f"ran before refusing: {command}"
        assert "urandom" not in command and "mkdir" not in command


def test_a_new_service_still_gets_its_secrets(platform: Platform, tmp_path: Path) -> None:
    """SearXNG is deployed (its env and secret exist); the gateway's services are new."""
    searxng = daemon_named(platform, "mini", "searxng")
    (own,) = [r.env for r in searxng.secrets.values()]
    result = plan(tmp_path, "mini", {"mini": answers(platform, [own], "searxng")})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    commands = sent(output, "mini")
    store = platform.host("mini").layout.secret_store
    key = platform.gateway.proxy_key.env
    assert any(f"{store}/{key}" in c and "urandom" in c for c in commands), "no key generated"
    assert not any(f"{store}/{own}" in c and "urandom" in c for c in commands), "replaced"


# --- rotation ---------------------------------------------------------------------------------


def test_the_gateway_key_is_read_by_the_gateway_and_its_clients(platform: Platform) -> None:
    key = platform.gateway.proxy_key.env
    readers = {d.name for d in consumers(platform, "mini", key)}
    # Prometheus (its scrape of the gateway) and the blackbox exporter (its chat probes) are
    # handed the key as a credential.
    assert readers == {"litellm", "open-webui", "optillm", "prometheus-server", "blackbox-exporter"}
    # Derived from the daemons' mappings: each reader names it, no other daemon does.
    path = platform.host("mini").layout.secret_file(key)
    for d in daemons(platform, "mini"):
        names = {r.env for r in d.secrets.values()}
        reads = key in names or path in d.credentials.values()
        assert reads == (d.name in readers and d.enabled), d.name
    tools = [t for h in platform.hosts.values() if (mcp := h.get(McpTools)) for t in mcp.tools]
    assert tools, "the real data runs MCP tools"
    assert outside_readers(platform, key) == tuple(f"MCP tool {t.name}" for t in tools)


def test_rotation_writes_the_store_atomically_then_every_reader_then_restarts(
    platform: Platform,
) -> None:
    key = platform.gateway.proxy_key.env
    script = rotation_script(platform, "mini", key)
    path = platform.host("mini").layout.secret_file(key)
    new = script.index(f"mv $tmp {path}")
    assert script.index("/dev/urandom") < new
    readers = consumers(platform, "mini", key)
    # The gateway (gunicorn) reloads onto the new key; its clients restart after it.
    gateway = script.index("systemctl reload")
    clients = script.index("systemctl try-restart")
    for d in readers:
        if d.secrets_env is None:  # a credential reader: restarted, nothing to rewrite
            assert d.credentials, d.name
            continue
        assert new < script.index(f"mv $tmp {d.secrets_env}") < gateway
    litellm = daemon_named(platform, "mini", "litellm")
    assert [[d.name for d in w] for w in waves(readers)] == [
        ["litellm"],
        [d.name for d in readers if d.name != "litellm"],
    ]
    assert script.count("systemctl reload") == 1
    assert script.count("systemctl try-restart") == 1
    assert gateway < script.index(litellm.health_url) < clients
    assert litellm.unit in script[gateway - 200 : script.index(litellm.health_url)]
    for d in readers:
        if d.name != "litellm":
            assert litellm.unit in d.after, f"{d.name} is not ordered after the gateway"
            assert d.unit in script[clients - 1000 : clients], f"{d.name} not in the second wave"
            assert clients < script.index(d.health_url), f"no wait for {d.name}"


def test_rotation_script_runs_in_sh(platform: Platform, tmp_path: Path) -> None:
    script = rotation_script(platform, "mini", platform.gateway.proxy_key.env)
    checked = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


# --- the store's copy -------------------------------------------------------------------------


def _archive(path: Path, names: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo(".")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, value in names.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(value)
            tar.addfile(info, io.BytesIO(value))


def test_store_copy_sits_beside_the_copy_and_is_no_copy_id(tmp_path: Path) -> None:
    from homelab.backup import local_copies

    copy = "20250102T030405Z-manual"
    (tmp_path / f"{copy}.tar.gz").write_bytes(b"x")
    target = store_copy(tmp_path, copy)
    assert target.name == f"{copy}{STORE_SUFFIX}"
    _archive(target, {"LITELLM_PROXY_KEY": b"a" * 64, "WEBUI_SECRET_KEY": b"b" * 64})
    assert local_copies(tmp_path) == [copy]
    assert store_names(target) == ["LITELLM_PROXY_KEY", "WEBUI_SECRET_KEY"]


def test_store_copies_are_ignored_by_git(tmp_path: Path) -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", f"lab/backups/mini/x{STORE_SUFFIX}"],
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert ignored.returncode == 0


def test_put_back_merges_keeps_the_old_aside_and_rewrites_env_files(
    platform: Platform, tmp_path: Path
) -> None:
    """The host side of ``restore``'s secrets, run in a scratch root: paths moved under it."""
    layout = platform.host("mini").layout
    root = tmp_path / "root"
    store = Path(f"{root}{layout.secret_store}")
    store.mkdir(parents=True)
    (store / "KEPT").write_text("kept")
    (store / "WEBUI_SECRET_KEY").write_text("new-host")
    archive = tmp_path / f"c{STORE_SUFFIX}"
    _archive(archive, {"WEBUI_SECRET_KEY": b"old-host", "LITELLM_PROXY_KEY": b"old-key"})
    aside = f"{layout.backup_dir('secrets')}/c-before-restore{STORE_SUFFIX}"
    script = put_back_script(platform, "mini", aside).replace(layout.etc, f"{root}{layout.etc}")
    script = script.replace(layout.state, f"{root}{layout.state}")
    # No env file exists here: nothing to rewrite or restart, only the store.
    result = subprocess.run(
        ["sh", "-c", script], input=archive.read_bytes(), capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    assert (store / "WEBUI_SECRET_KEY").read_text() == "old-host"
    assert (store / "LITELLM_PROXY_KEY").read_text() == "old-key"
    assert (store / "KEPT").read_text() == "kept", "a secret the copy lacks was dropped"
    assert oct((store / "LITELLM_PROXY_KEY").stat().st_mode & 0o777) == "0o600"
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    lines = result.stdout.decode().splitlines()
    assert lines[0].split()[0] == "changed"
    assert set(lines[0].split()[1:]) == {"WEBUI_SECRET_KEY", "LITELLM_PROXY_KEY"}
    assert store_names(Path(f"{root}{aside}")) == ["KEPT", "WEBUI_SECRET_KEY"]


# --- the command ------------------------------------------------------------------------------


def _homelab(*args: str) -> subprocess.CompletedProcess[str]:
    # In this process (no socket connects); no ssh to find either: nothing may reach a host.
    return homelab(*args, env={"PATH": ""})


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("rotate", "mini", "NO_SUCH_SECRET"), "no service on mini reads NO_SUCH_SECRET"),
        (("rotate", "studio", "WEBUI_SECRET_KEY"), "no service on studio reads WEBUI_SECRET_KEY"),
        (("rotate", "nowhere", "X"), "no host 'nowhere' in the inventory"),
        (("rotate", "mini"), "the following arguments are required: secret"),
    ],
)
def test_rotate_refuses_bad_arguments_in_one_line(args: tuple[str, ...], problem: str) -> None:
    result = _homelab(*args)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and problem in errors[0], result.stderr
    assert result.stdout == ""


def test_fetch_store_writes_0600_and_names_what_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import homelab.secrets as secrets

    archive = tmp_path / "sent.tar.gz"
    _archive(archive, {"LITELLM_PROXY_KEY": b"k" * 64, "WEBUI_SECRET_KEY": b"w" * 64})
    asked: list[str] = []

    def host(inventory: Path, role: str, command: str, **_: object) -> Any:
        asked.append(command)
        return subprocess.CompletedProcess([command], 0, archive.read_bytes(), b"")

    monkeypatch.setattr(secrets, "on_host", host)
    target = tmp_path / "copies" / f"c{STORE_SUFFIX}"
    target.parent.mkdir()
    names = secrets.fetch_store(tmp_path / "inventory.py", "mini", "/etc/x/store", target)
    assert names == ["LITELLM_PROXY_KEY", "WEBUI_SECRET_KEY"]
    assert asked == ["tar -C /etc/x/store -czf - ."]
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert not list(target.parent.glob(".*partial"))


def test_fetch_store_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import homelab.secrets as secrets

    def host(inventory: Path, role: str, command: str, **_: object) -> Any:
        return subprocess.CompletedProcess([command], 2, b"", b"tar: x\ntar: /etc/x/store: No such")

    monkeypatch.setattr(secrets, "on_host", host)
    with pytest.raises(secrets.SecretsFailed) as error:
        secrets.fetch_store(
            tmp_path / "i.py", "mini", "/etc/x/store", tmp_path / f"c{STORE_SUFFIX}"
        )
    assert str(error.value) == (
        "copying the secret store failed on the host: tar: /etc/x/store: No such"
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("changed", "restarted"),
    [
        (
            "SEARXNG_SECRET LITELLM_PROXY_KEY",
            ["rewritten prometheus-server", "rewritten blackbox-exporter"],
        ),
        ("SEARXNG_SECRET", []),
    ],
)
def test_a_restored_key_restarts_the_daemons_handed_it_as_a_credential(
    platform: Platform, changed: str, restarted: list[str]
) -> None:
    """Prometheus and the blackbox exporter read the gateway key as a credential (at start):
    a put-back store whose gateway key differs marks them for the restart."""
    readers = [d for d in daemons(platform, "mini") if d.enabled and d.credentials]
    script = credential_marks(readers, "$changed")
    done = subprocess.run(
        ["bash", "-c", f"changed={shlex.quote(changed)}; {script}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split("\n")[:-1] == restarted
