"""The Studio's macOS path, proven without a Mac: the deploy planned and run against hosts on
pyinfra's fake connector (every command succeeds and nothing runs), with the real group data,
in which the Studio's system is macOS. The commands it sends are read back from ``-vv``."""

from __future__ import annotations

import pytest

from homelab.locks import lock_for, venv_target
from homelab.model import Platform
from homelab.services import daemons
from tests.fast.fakeplan import planned_commands

#: The host planned: the real data's Studio, by its inventory name.
HOST = "studio"


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return planned_commands(tmp_path_factory.mktemp("fake"), HOST)


def test_the_studio_is_a_mac_in_the_data(platform: Platform) -> None:
    system = platform.host(HOST).os
    assert system.name == "macos" and system.init.name == "launchd"


def test_every_plist_is_placed_root_wheel_0644(commands: list[str], platform: Platform) -> None:
    for d in daemons(platform, HOST):
        assert d.unit_path.startswith("/Library/LaunchDaemons/"), d.unit_path
        if d.enabled:
            installed = [
                c
                for c in commands
                if c.startswith("install -o root -g wheel -m 0644 ")
                and c.endswith(f" {d.unit_path}")
            ]
            assert installed, f"{d.name}: its plist is not installed root:wheel 0644"
        else:
            assert f"chown root:wheel {d.unit_path}" in commands, d.name
            assert f"chmod 644 {d.unit_path}" in commands, d.name


def test_an_enabled_plist_is_linted_before_it_replaces_the_live_one(
    commands: list[str], platform: Platform
) -> None:
    for d in daemons(platform, HOST):
        if not d.enabled:
            continue
        lint = next(
            i for i, c in enumerate(commands) if c.startswith("plutil -lint ") and d.unit_path in c
        )
        install = next(
            i
            for i, c in enumerate(commands)
            if c.startswith("install ") and c.endswith(f" {d.unit_path}")
        )
        assert lint < install, f"{d.name}: installed before plutil accepted it"


def test_enabled_daemons_are_bootstrapped(commands: list[str], platform: Platform) -> None:
    for d in daemons(platform, HOST):
        bootstrap = f"launchctl bootstrap system {d.unit_path}"
        if d.enabled:
            assert bootstrap in commands, d.name
            assert commands.index(f"launchctl bootout system/{d.unit} 2>/dev/null || true") < (
                commands.index(bootstrap)
            ), "a changed plist is booted out before it is bootstrapped again"
        else:
            assert bootstrap not in commands, f"{d.name} is disabled in the data"


def test_no_systemd_on_the_mac(commands: list[str]) -> None:
    assert not [c for c in commands if "systemctl" in c]


def test_the_snapshot_is_not_asked_of_the_mac(commands: list[str], platform: Platform) -> None:
    """The one-round-trip snapshot speaks GNU (``stat --printf``, ``getent``): macOS's userland
    does not, so the Mac's deploy asks pyinfra's facts one at a time instead."""
    assert not platform.host(HOST).os.snapshot
    assert not [c for c in commands if "stat --printf" in c or "getent passwd" in c]


def test_homebrew_brings_uv_and_python(commands: list[str], platform: Platform) -> None:
    version = platform.host(HOST).toolchain.python_version
    assert any(
        c.startswith("brew install") and "uv" in c and f"python@{version}" in c for c in commands
    )


def test_mlx_venv_built_from_the_macos_lock(commands: list[str], platform: Platform) -> None:
    mlx = next(d for d in daemons(platform, HOST) if d.install == "mlx")
    lock = lock_for(mlx)
    wheels = platform.host(HOST).os.toolchain.platform
    assert lock.path.name.endswith(f".{wheels}.txt"), f"expected a {wheels} lock, found {lock}"
    venv = venv_target(mlx)
    studio = platform.host(HOST)
    assert venv.startswith(f"{studio.layout.opt}/mlx/venvs/"), venv
    python = studio.toolchain.python
    assert any(c.endswith(f"uv venv --python {python} {venv}") for c in commands), commands
    sync = [c for c in commands if " pip sync " in c and f"--python {venv}/bin/python" in c]
    assert sync and all("--compile-bytecode" in c for c in sync), sync


def test_a_host_with_nothing_stale_has_nothing_removed(commands: list[str]) -> None:
    """Day two's second run: nothing the data names is booted out for good or removed."""
    assert not [c for c in commands if c.startswith("rm -f /Library/LaunchDaemons/")]
    assert not [c for c in commands if c.startswith("launchctl bootout") and "|| true" not in c]
