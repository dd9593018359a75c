"""The deploy's one-round-trip snapshot: its shell script run here, on real files, and what the
steps conclude from its answers."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from deploys.state import HostState, Snapshot, wanted
from homelab.model import Platform
from homelab.render import HostFile, host_files
from homelab.services import daemons


def snapshot(paths: tuple[str, ...], users: tuple[str, ...] = ()) -> HostState:
    script = Snapshot().command(paths=paths, users=users, units=())
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return Snapshot().process(result.stdout.splitlines())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "file.txt").write_text("hello\n")
    (tmp_path / "file.txt").chmod(0o640)
    (tmp_path / "dir").mkdir(mode=0o750)
    (tmp_path / "dir").chmod(0o750)
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    return tmp_path


def test_files_dirs_and_links_are_told_apart(tree: Path) -> None:
    paths = tuple(str(tree / n) for n in ("file.txt", "dir", "link", "missing"))
    state = snapshot(paths)
    f = state.paths[str(tree / "file.txt")]
    assert (f.kind, f.mode) == ("f", 0o640)
    assert f.detail == hashlib.sha1(b"hello\n").hexdigest()
    assert state.paths[str(tree / "dir")].kind == "d"
    link = state.paths[str(tree / "link")]
    assert (link.kind, link.detail) == ("l", str(tree / "dir"))
    assert str(tree / "missing") not in state.paths


def test_a_file_is_held_only_with_its_content_owner_and_mode(tree: Path) -> None:
    path = str(tree / "file.txt")
    state = snapshot((path,))
    me = state.paths[path]
    same = HostFile(path=path, content="hello\n", owner=me.user, group=me.group, mode="0640")
    assert state.holds(same)
    assert not state.holds(HostFile(path, "hello!\n", me.user, me.group, "0640")), "content"
    assert not state.holds(HostFile(path, "hello\n", me.user, me.group, "0644")), "mode"
    assert not state.holds(HostFile(path, "hello\n", "nobody", me.group, "0640")), "owner"


def test_accounts_and_groups(tree: Path) -> None:
    state = snapshot((str(tree),), users=("root", "no-such-user-here"))
    assert "root" in state.accounts and "no-such-user-here" not in state.accounts
    assert state.accounts["root"].home == "/root"
    assert "root" in state.groups


def test_a_host_with_nothing_answers_nothing() -> None:
    assert Snapshot().process([]) == HostState()


def test_the_snapshot_asks_for_every_file_and_unit_of_each_host(lab_platform: Platform) -> None:
    assert lab_platform.hosts
    for host in lab_platform.hosts:
        paths, users, units = wanted(lab_platform, host)
        assert {f.path for f in host_files(lab_platform, host)} <= set(paths), host
        for d in daemons(lab_platform, host):
            assert d.unit in units and d.user in users and d.venv in paths, (host, d.name)


def test_root_can_run_it_on_this_machine() -> None:
    """The script is plain POSIX shell and GNU tools: it runs as it is here, as root or not."""
    state = snapshot(("/etc", "/etc/hostname"), users=(os.environ.get("USER", "root"),))
    assert state.paths["/etc"].kind == "d"
