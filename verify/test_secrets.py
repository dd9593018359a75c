"""Secret-bearing files: their service's alone, mode 0600, and no secret value in git."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from homelab import PROJECT_ROOT
from homelab.model import Platform
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


def test_secret_store_is_root_only(host_name: str, host: Any, platform: Platform) -> None:
    store = host.file(platform.host(host_name).layout.secret_store)
    found = (store.user, oct(store.mode))
    assert found == ("root", "0o700"), (
        f"{host_name}: expected secret store {store.path} root 0o700, found {found[0]} {found[1]}"
    )


def test_secrets_folder_lists_nothing(host_name: str, host: Any, platform: Platform) -> None:
    """Each service's user may reach its own env file by name; nobody but root lists them."""
    h = platform.host(host_name)
    folder = host.file(h.layout.secrets)
    expected = oct(int(h.os.secrets_dir_mode, 8))
    found = (folder.user, oct(folder.mode))
    assert found == ("root", expected), (
        f"{host_name}: expected {folder.path} root {expected}, found {found[0]} {found[1]}"
    )


#: Where the project's files are: a git checkout, or a copy of its files without git.
SOURCE = PROJECT_ROOT


def _ignored(path: Path, root: Path, patterns: list[str]) -> bool:
    """A rough reading of .gitignore: name globs, ``dir/`` names, ``/anchored`` paths."""
    rel = path.relative_to(root).as_posix()
    for pattern in patterns:
        if pattern.startswith("/"):
            if fnmatch.fnmatch(rel, pattern.strip("/")):
                return True
        elif fnmatch.fnmatch(path.name, pattern.rstrip("/")):
            return True
    return False


def _files(root: Path) -> Iterator[Path]:
    """The working tree's files, skipping .git and what .gitignore names."""
    ignore = root / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.is_file() else []
    patterns = [x.strip() for x in lines if x.strip() and not x.startswith(("#", "!"))]
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if d != ".git" and not _ignored(here / d, root, patterns)]
        for name in files:
            if not _ignored(here / name, root, patterns):
                yield here / name


def found_in_source(values: list[str], root: Path) -> tuple[str, set[str]]:
    """What was searched, and which of ``values`` it holds.

    In a git checkout, ``git grep`` searches the files git tracks (exit 1: no match; any other
    non-zero exit is an error, never a match). Where git cannot search (not a checkout, git
    missing or refusing), every file of the working tree is read instead, and the description
    says why.
    """
    reason = ""
    try:
        found: set[str] = set()
        for value in values:
            grep = subprocess.run(
                ["git", "grep", "-F", "-q", "-e", value],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
            )
            if grep.returncode == 0:
                found.add(value)
            elif grep.returncode != 1:
                reason = (grep.stderr.strip().splitlines() or [f"exit {grep.returncode}"])[0]
                break
        else:
            return f"the files git tracks in {root}", found
    except FileNotFoundError:
        reason = "git is not installed"
    wanted = [v.encode() for v in values]
    hits: set[str] = set()
    for path in _files(root):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        hits.update(v.decode() for v in wanted if v in data)
    return f"every file under {root}, without git ({reason})", hits


def test_no_secret_value_is_in_git(
    hosts: dict[str, Any], platform: Platform, record_property: Any
) -> None:
    """Every host's secrets, searched for in the source at once (one search, not one a host)."""
    secrets: dict[str, list[str]] = {}
    for host_name, h in hosts.items():
        store = platform.host(host_name).layout.secret_store
        for name in h.check_output(f"ls -1 {store}").split():
            value = h.file(f"{store}/{name}").content_string.strip()
            if value:
                secrets.setdefault(value, []).append(f"{host_name}:{name}")
    searched, found = found_in_source(list(secrets), SOURCE)
    record_property("searched", searched)
    leaked = sorted(where for value in found for where in secrets[value])
    assert not leaked, f"secret values found in {searched}: {', '.join(leaked)}"
