"""The Mini's deploy, planned without root or a host: pyinfra's ``@fake`` connector, the real
group data, a host with nothing yet. It checks the order the config guard promises: secrets
first, each checked file checked as a candidate before it is installed, the unit checked and
installed before the service starts, and the service answering before the deploy goes on."""

from __future__ import annotations

import posixpath

import pytest

from homelab.model import Platform
from homelab.services import Daemon, daemons
from homelab.services.mcp_tools import install_of, tools_on
from tests.fast.fakeplan import first, planned_commands

#: The host planned: the real data's Mini, by its inventory name.
HOST = "mini"


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return planned_commands(tmp_path_factory.mktemp("fake"), HOST)


def enabled(platform: Platform) -> list[Daemon]:
    return [d for d in daemons(platform, HOST) if d.enabled]


def _installed(commands: list[str], path: str) -> int:
    return first(commands, f"{path} installed", "install -o ", f" {path}")


def _started(commands: list[str], d: Daemon) -> int:
    return first(commands, f"{d.unit} started", f"systemctl start {d.unit}")


def test_every_unit_is_verified_before_it_is_installed(
    commands: list[str], platform: Platform
) -> None:
    for d in enabled(platform):
        candidate = posixpath.basename(d.unit_path)
        verify = first(commands, f"{d.unit} verified", "systemd-analyze verify", candidate)
        assert verify < _installed(commands, d.unit_path), f"{d.unit}: installed before verified"


def test_every_checked_config_is_checked_before_it_is_installed(
    commands: list[str], platform: Platform
) -> None:
    checked = [d for d in enabled(platform) if d.config]
    assert {d.name for d in checked} >= {"litellm", "searxng"}
    for d in checked:
        assert d.config is not None
        candidate = posixpath.basename(d.config)
        check = next(
            i
            for i, c in enumerate(commands)
            if candidate in c and ".staging" in c and not c.startswith(("install ", "!", "mkdir"))
        )
        assert check < _installed(commands, d.config), f"{d.name}: config installed unchecked"


def test_secrets_are_written_before_the_config_check_reads_them(
    commands: list[str], platform: Platform
) -> None:
    for d in enabled(platform):
        if not (d.config and d.secrets_env):
            continue
        written = first(commands, f"{d.secrets_env} written", f"mktemp {d.secrets_env}.")
        assert written < _installed(commands, d.config), f"{d.name}: checked without its secrets"


def test_each_service_starts_after_its_files_and_answers(
    commands: list[str], platform: Platform
) -> None:
    for d in enabled(platform):
        start = _started(commands, d)
        assert _installed(commands, d.unit_path) < start, d.name
        if d.config:
            assert _installed(commands, d.config) < start, d.name
        health = first(commands, f"{d.name} health wait", "curl ", "--retry", d.health_url)
        assert start < health, f"{d.name}: no wait for {d.health_url} after its start"


def test_the_deploy_asks_whether_every_enabled_daemon_answers(
    commands: list[str], platform: Platform
) -> None:
    """One command asks them all (a host that has just booted changes nothing, yet its daemons
    may still be starting: the deploy's last wait covers those that do not answer)."""
    asked = first(commands, "the health question", "|| echo")
    missing = [d.name for d in enabled(platform) if d.health_url not in commands[asked]]
    assert missing == [], f"expected every enabled daemon asked, not asked: {missing}"


def test_the_search_backend_starts_before_the_gateway(
    commands: list[str], platform: Platform
) -> None:
    by_name = {d.name: d for d in enabled(platform)}
    searxng, gateway = (
        _started(commands, by_name["searxng"]),
        _started(commands, by_name["litellm"]),
    )
    assert searxng < gateway, f"expected searxng started before the gateway: {searxng} > {gateway}"


@pytest.mark.parametrize("other", ["optillm", "open-webui", "prometheus-server", "ov-server"])
def test_the_others_start_before_the_gateways_config_is_checked(
    commands: list[str], platform: Platform, other: str
) -> None:
    """The gateway's check imports LiteLLM's proxy (seconds): what starts before it comes up
    meanwhile instead of after it."""
    check = first(commands, "the gateway's config check", "check_litellm_config.py", "refused: ")
    started = _started(commands, {d.name: d for d in enabled(platform)}[other])
    assert started < check, f"expected {other} started before the check ({started} > {check})"


def test_nothing_is_deleted_from_the_data_directories(
    commands: list[str], platform: Platform
) -> None:
    lay = platform.host(HOST).layout
    for c in commands:
        if c.startswith("rm "):
            assert not any(f" {lay.state_dir(d.name)}" in c for d in enabled(platform)), c


def test_the_mcp_registry_is_placed_after_the_tools_it_names(
    commands: list[str], platform: Platform
) -> None:
    mcp = tools_on(platform, HOST)
    registry = first(commands, "the registry placed", "chmod 644", mcp.registry_path)
    assert mcp.tools
    for tool in mcp.tools:
        where = install_of(platform, HOST, tool)
        install = first(commands, f"{tool.name} installed", "--no-deps --no-index", where.venv)
        link = first(commands, f"{where.venv} linked", "ln -s", where.venv)
        key = first(commands, f"{where.secrets_env} written", f"mktemp {where.secrets_env}.")
        assert install < link < registry and key < registry, tool.name


def test_a_socket_is_checked_once_its_service_is_in_place(
    commands: list[str], platform: Platform
) -> None:
    """systemd-analyze refuses a socket whose service it cannot load (a new host has none)."""
    for d in enabled(platform):
        if d.socket_path is None:
            continue
        verify = first(
            commands, f"{d.socket_unit} verified", "systemd-analyze verify", d.socket_unit
        )
        assert _installed(commands, d.unit_path) < verify, f"{d.name}: socket checked first"


def test_venvs_link_from_the_hosts_own_cache(commands: list[str]) -> None:
    """uv's default (hard links) on a host with its own cache: the real Mini's venvs are not
    copies; only a cache mounted from elsewhere (the lab's ``uv_cache_dir``) is copied from."""
    syncs = [c for c in commands if " pip sync " in c]
    assert syncs, "no venv was installed"
    assert not [c for c in syncs if "UV_LINK_MODE" in c], syncs[0]


def test_a_new_gateway_is_checked_at_its_guard(commands: list[str], platform: Platform) -> None:
    """No early check on a host without the gateway's venv: the guard checks itself."""
    started = [c for c in commands if "nohup sh -c" in c]
    assert started == [], f"expected no early check on a new host, found: {started}"
    config = next(d for d in enabled(platform) if d.name == "litellm").config or ""
    guard = commands[first(commands, "the config's guard", "refused: ", config)]
    assert ".early" not in guard, f"expected the guard's own check only, found: {guard[:300]}"
