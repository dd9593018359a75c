"""Every virtualenv the deploys build has its lock in the repo, resolved from what the model
names, and pinning the version the model pins."""

from __future__ import annotations

import re
import subprocess

import pytest

from homelab.cli import LOCKED_INVENTORIES
from homelab.load import load_platform
from homelab.locks import Lock, locks, stale


@pytest.fixture(scope="module")
def wanted() -> list[Lock]:
    return locks([load_platform(path) for path in LOCKED_INVENTORIES])


def test_the_previous_open_webui_is_locked(wanted: list[Lock]) -> None:
    versions = {
        line.split("==")[1]
        for lock in wanted
        if lock.install == "open-webui"
        for line in lock.requirements
        if line.startswith("open-webui==")
    }
    assert len(versions) == 2, versions  # the lab's upgrade goes from one to the other


def test_every_lock_is_in_the_repo(wanted: list[Lock]) -> None:
    missing = [lock.path.name for lock in wanted if not lock.is_current()]
    assert not missing, f"run `homelab lock --find-links /opt/wheels`: missing {missing}"


def test_no_stale_lock(wanted: list[Lock]) -> None:
    assert stale(wanted) == []


def test_locks_pin_the_model_versions(wanted: list[Lock]) -> None:
    for lock in wanted:
        text = lock.path.read_text()
        for requirement in lock.requirements:
            pin = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", requirement)
            if pin:
                name, _extra, version = pin.groups()
                pattern = re.sub(r"[-_.]+", "[-_.]+", re.escape(name).replace("\\", ""))
                line = re.search(rf"^{pattern}==(\S+)", text, re.M | re.I)
                assert line, f"{lock.path.name} does not pin {name}"
                assert line.group(1).split("+")[0] == version, (lock.path.name, name)


def test_linux_locks_take_cpu_torch(wanted: list[Lock]) -> None:
    for lock in wanted:
        text = lock.path.read_text()
        if "linux" in lock.toolchain.platform or "manylinux" in lock.toolchain.platform:
            assert not re.search(r"^nvidia-", text, re.M), f"{lock.path.name} pulls CUDA"
            torch = re.search(r"^torch==(\S+)", text, re.M)
            if torch:
                assert torch.group(1).endswith("+cpu"), lock.path.name


def test_the_resolver_is_given_the_toolchains_find_links(
    wanted: list[Lock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network: the command line is captured and the run reported as failed."""
    lock = next(lock for lock in wanted if lock.toolchain.find_links)
    seen: list[list[str]] = []

    def run(args: list[str], **_kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(args)
        return subprocess.CompletedProcess(args, 1, "", "offline")

    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(RuntimeError, match="offline"):
        lock.compile(["/extra/wheels", lock.toolchain.find_links[0]])
    (args,) = seen
    links = [args[i + 1] for i, arg in enumerate(args) if arg == "--find-links"]
    assert links == [*lock.toolchain.find_links, "/extra/wheels"], args
