"""verify's "no secret value is in git" outside a git checkout: it reads the files instead of
taking git's error for a leak, and says what it searched."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from homelab.model import Platform
from verify import test_secrets
from verify.test_secrets import found_in_source

VALUE = "s3cret-value-of-the-test"


class FakeFile:
    def __init__(self, content: str) -> None:
        self.content_string = content


class FakeHost:
    """A host whose secret store holds one file, as testinfra would read it."""

    def __init__(self, value: str) -> None:
        self.value = value

    def check_output(self, command: str) -> str:
        return "gateway.key\n"

    def file(self, path: str) -> FakeFile:
        return FakeFile(self.value + "\n")


def run_check(platform: Platform, value: str) -> list[tuple[str, object]]:
    said: list[tuple[str, object]] = []
    test_secrets.test_no_secret_value_is_in_git(
        {"mini": FakeHost(value)}, platform, lambda k, v: said.append((k, v))
    )
    return said


@pytest.fixture
def copy_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project tree that is not a git checkout (as an unpacked release would be)."""
    root = tmp_path / "project"
    (root / "group_data").mkdir(parents=True)
    (root / "group_data" / "all.py").write_text("# no secrets here\n")
    (root / ".gitignore").write_text("__pycache__/\n/out/\n")
    monkeypatch.setattr(test_secrets, "SOURCE", root)
    return root


def test_outside_a_checkout_no_leak_is_reported_and_it_says_what_it_read(
    platform: Platform, copy_without_git: Path
) -> None:
    said = run_check(platform, VALUE)
    assert said and "without git" in str(said[0][1]) and str(copy_without_git) in str(said[0][1])


def test_outside_a_checkout_a_value_in_a_file_is_found(
    platform: Platform, copy_without_git: Path
) -> None:
    (copy_without_git / "group_data" / "mini.py").write_text(f'KEY = "{VALUE}"\n')
    with pytest.raises(AssertionError, match=r"mini:gateway\.key"):
        run_check(platform, VALUE)


def test_ignored_files_are_not_read(copy_without_git: Path) -> None:
    for ignored in ("out/x.txt", "group_data/__pycache__/all.pyc"):
        (copy_without_git / ignored).parent.mkdir(parents=True, exist_ok=True)
        (copy_without_git / ignored).write_text(VALUE)
    assert found_in_source([VALUE], copy_without_git)[1] == set()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_in_a_checkout_git_grep_tells_a_match_from_none(
    tmp_path: Path, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "tracked.txt").write_text(f"{VALUE}\n")
    (tmp_path / "untracked.txt").write_text("other-value\n")
    git("add", "tracked.txt")
    searched, found = found_in_source([VALUE, "absent-value", "other-value"], tmp_path)
    assert searched.startswith("the files git tracks") and found == {VALUE}
    monkeypatch.setattr(test_secrets, "SOURCE", tmp_path)
    assert run_check(platform, "other-value") == [("searched", searched)]
    with pytest.raises(AssertionError, match=r"mini:gateway\.key"):
        run_check(platform, VALUE)
