"""Copies of a service's data, made and restored on its host. Standard library only.

This file runs on the host, as root: the deploy places it there and runs it before a change
(``backup --reason deploy``); ``homelab backup`` and ``homelab restore`` send it over SSH
(``python3 - ACTION ...``). ``homelab.backup`` imports its naming and retention rules, so the
operator's side and the host's side name and order copies the same way.

A copy is one file, ``<id>.tar.gz``, holding ``<id>/manifest.json``, the database (made with
SQLite's online backup API, consistent while the service runs) and the data's folders. Its id
is the UTC time it was made and why: ``20250102T030405Z-deploy``; ids sort by age.

Usage::

    python3 backup_host.py backup --data DIR --dest DIR --database NAME [--folder NAME ...]
        --keep N --reason WORD [--venv DIR]
    python3 backup_host.py restore ARCHIVE --data DIR --dest DIR --database NAME
        [--folder NAME ...] --keep N --owner USER --unit UNIT
        [--admin-email EMAIL --admin-password-file FILE]
    python3 backup_host.py list --dest DIR
    python3 backup_host.py import --from DIR --data DIR --database NAME [--folder NAME ...]
        --owner USER

Each prints one JSON object on stdout; errors go to stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import glob
import hashlib
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

SUFFIX = ".tar.gz"
#: ``YYYYMMDDTHHMMSSZ-reason``: the time (UTC, to the second) and a lowercase word.
ID_PATTERN = re.compile(r"^(\d{8}T\d{6}Z)-([a-z][a-z-]*)$")
TIME_FORMAT = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A problem the operator can act on; printed as one line."""


# --- names and retention (pure; also used on the operator's side) ---------------------------


def copy_id(when: dt.datetime, reason: str) -> str:
    """The id of a copy made at ``when`` (any timezone; named in UTC) for ``reason``."""
    if when.tzinfo is None:
        raise ValueError("copy_id needs an aware datetime")
    name = f"{when.astimezone(dt.UTC).strftime(TIME_FORMAT)}-{reason}"
    if not ID_PATTERN.match(name):
        raise ValueError(f"reason {reason!r}: lowercase letters and dashes only")
    return name


def is_copy_id(name: str) -> bool:
    return ID_PATTERN.match(name) is not None


def copy_time(name: str) -> dt.datetime:
    match = ID_PATTERN.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a copy id (YYYYMMDDTHHMMSSZ-reason)")
    return dt.datetime.strptime(match.group(1), TIME_FORMAT).replace(tzinfo=dt.UTC)


def ids_in(names: Iterable[str]) -> list[str]:
    """The copy ids among file names (``<id>.tar.gz``), oldest first; other names ignored."""
    found = [n.removesuffix(SUFFIX) for n in names if n.endswith(SUFFIX)]
    return sorted((n for n in found if is_copy_id(n)), key=lambda n: (copy_time(n), n))


def to_prune(ids: Iterable[str], keep: int) -> list[str]:
    """The ids to delete so that only the ``keep`` newest remain, oldest first."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    ordered = ids_in(f"{i}{SUFFIX}" for i in ids)
    return ordered[:-keep]


def free_id(when: dt.datetime, reason: str, taken: Iterable[str]) -> str:
    """A new id at ``when``, a second later while that one is taken (two copies in a second)."""
    taken = set(taken)
    while (name := copy_id(when, reason)) in taken:
        when += dt.timedelta(seconds=1)
    return name


# --- on the host ----------------------------------------------------------------------------


def sha256(path: Path) -> str:
    """A file's SHA-256, read in blocks (a copy can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _integrity(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def _counts(db: Path) -> dict[str, int]:
    """Rows of a few tables, when they exist: a quick way to see what a copy holds."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {
            t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
            for t in ("user", "chat", "file")
            if t in tables
        }
    finally:
        con.close()


def online_copy(source: Path, target: Path) -> None:
    """SQLite's backup API: a consistent copy even while another process writes ``source``."""
    src = sqlite3.connect(f"file:{source}?mode=rw", uri=True)  # never creates one
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            # One self-contained file (the source may be in WAL mode; the service sets its
            # own mode again when it opens a restored copy).
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def _version(venv: str | None) -> str | None:
    """The installed service's version, from its venv's dist-info (what wrote the data)."""
    if not venv:
        return None
    found = sorted(glob.glob(f"{venv}/lib/python*/site-packages/open_webui-*.dist-info"))
    if not found:
        return None
    return Path(found[-1]).name.removeprefix("open_webui-").removesuffix(".dist-info")


def backup(
    data: Path,
    dest: Path,
    database: str,
    folders: Sequence[str],
    keep: int,
    reason: str,
    venv: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    db = data / database
    if not db.is_file():
        raise BackupError(f"no database at {db}: nothing to back up")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)
    name = free_id(now or dt.datetime.now(dt.UTC), reason, ids_in(os.listdir(dest)))
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest))
    try:
        root = work / name
        root.mkdir()
        online_copy(db, root / database)
        integrity = _integrity(root / database)
        if integrity != "ok":
            raise BackupError(f"the copy of {db} fails SQLite's integrity check: {integrity}")
        copied = []
        for folder in folders:
            if (data / folder).is_dir():
                shutil.copytree(data / folder, root / folder, symlinks=True)
                copied.append(folder)
        manifest = {
            "id": name,
            "created": copy_time(name).isoformat(),
            "reason": reason,
            "data": str(data),
            "database": database,
            "folders": copied,
            "version": _version(venv),
            "counts": _counts(root / database),
            "database_sha256": sha256(root / database),
        }
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        partial = work / f"{name}{SUFFIX}"
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(root, arcname=name)
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        final = dest / f"{name}{SUFFIX}"
        os.chmod(partial, 0o600)
        os.replace(partial, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pruned = to_prune(ids_in(os.listdir(dest)), keep)
    for old in pruned:
        (dest / f"{old}{SUFFIX}").unlink(missing_ok=True)
    return {
        **manifest,
        "path": str(final),
        "size": final.stat().st_size,
        "sha256": sha256(final),
        "pruned": pruned,
    }


def _extract(archive: Path, into: Path) -> Path:
    """The archive's one top folder, extracted safely (no absolute paths, no ``..``, no links
    out of it); returns that folder."""
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        tops = {Path(m.name).parts[0] for m in members if m.name not in ("", ".")}
        for m in members:
            parts = Path(m.name).parts
            if m.name.startswith("/") or ".." in parts or m.isdev():
                raise BackupError(f"{archive}: refusing member {m.name!r}")
            if (m.issym() or m.islnk()) and (
                m.linkname.startswith("/") or ".." in Path(m.linkname).parts
            ):
                raise BackupError(f"{archive}: refusing link {m.name!r} -> {m.linkname!r}")
        if len(tops) != 1:
            raise BackupError(f"{archive}: expected one top folder, found {sorted(tops)}")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - Pythons without extraction filters; members checked above
            tar.extractall(into)
    return into / tops.pop()


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    """The service's own and only its, as it makes them (UMask 0077): folders 0700, files 0600."""
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        os.chmod(root, 0o700)
        for name in dirs + files:
            p = Path(root) / name
            os.chown(p, uid, gid, follow_symlinks=False)
            if not p.is_symlink() and p.is_file():
                os.chmod(p, 0o600)


def _admin_password(db: Path, email: str, password_file: Path) -> bool:
    """Set the admin account's password to the host's secret again (bcrypt, as Open WebUI).

    The copy holds the password the admin had where it was made; the host's secret store
    holds the one the operator reads on this host (a rebuilt host makes a new one).
    """
    import bcrypt  # the service's venv has it; run restore with that venv's python

    password = password_file.read_text().strip().encode()
    hashed = bcrypt.hashpw(password[:72], bcrypt.gensalt()).decode()
    con = sqlite3.connect(db)
    try:
        with con:
            cur = con.execute(
                "UPDATE auth SET password = ? WHERE lower(email) = lower(?)", (hashed, email)
            )
        return cur.rowcount > 0
    finally:
        con.close()


def unit_running(unit: str) -> bool:
    return subprocess.run(["systemctl", "is-active", "--quiet", unit], check=False).returncode == 0


def restore(
    archive: Path,
    data: Path,
    dest: Path,
    database: str,
    folders: Sequence[str],
    keep: int,
    owner: str,
    unit: str,
    admin_email: str | None = None,
    admin_password_file: Path | None = None,
    running: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    if (running or unit_running)(unit):
        raise BackupError(f"{unit} is running: stop it first (restore replaces its database)")
    account = pwd.getpwnam(owner)
    data.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=data.parent))
    try:
        root = _extract(archive, work)
        manifest = json.loads((root / "manifest.json").read_text())
        source = root / manifest.get("database", database)
        if sha256(source) != manifest["database_sha256"]:
            raise BackupError(f"{archive}: the database does not match its manifest")
        if (integrity := _integrity(source)) != "ok":
            raise BackupError(f"{archive}: its database fails the integrity check: {integrity}")
        before = None
        if (data / database).is_file():  # what was there stays recoverable
            before = backup(data, dest, database, folders, keep, "before-restore")["id"]
        online_copy_into(source, data / database)
        for folder in folders:
            old = data / folder
            if old.exists():
                shutil.rmtree(old)
            if (root / folder).is_dir():
                shutil.move(str(root / folder), str(old))
                _chown_tree(old, account.pw_uid, account.pw_gid)
        for suffix in ("", "-wal", "-shm"):
            if (data / f"{database}{suffix}").exists():
                os.chown(data / f"{database}{suffix}", account.pw_uid, account.pw_gid)
                os.chmod(data / f"{database}{suffix}", 0o600)
        admin = None
        if admin_email and admin_password_file:
            admin = _admin_password(data / database, admin_email, admin_password_file)
        return {
            "restored": manifest["id"],
            "version": manifest.get("version"),
            "counts": _counts(data / database),
            "before_restore": before,
            "admin_password_reset": admin,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def online_copy_into(source: Path, target: Path) -> None:
    """Restore with the backup API: ``target``'s pages replaced by ``source``'s in one step."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def import_data(
    source: Path, data: Path, database: str, folders: Sequence[str], owner: str
) -> dict[str, Any]:
    """Another installation's data (a hand-built one) into an empty data directory, once.

    The database is copied with the backup API (consistent even if the other one still
    writes), folders as they are; all of it owned by ``owner``, folders 0700, files 0600.
    Refused when ``data`` already has a database: nothing is ever overwritten.
    """
    db = source / database
    if not db.is_file():
        raise BackupError(f"no database at {db}: nothing to import")
    if (data / database).exists():
        raise BackupError(f"{data / database} exists: nothing imported (only into a new one)")
    if (integrity := _integrity(db)) != "ok":
        raise BackupError(f"{db} fails SQLite's integrity check: {integrity}")
    account = pwd.getpwnam(owner)
    data.mkdir(parents=True, exist_ok=True)
    partial = data / f".import-{database}"
    partial.unlink(missing_ok=True)
    online_copy(db, partial)
    imported = []
    for folder in folders:
        if (source / folder).is_dir():
            shutil.copytree(source / folder, data / folder, symlinks=True, dirs_exist_ok=True)
            _chown_tree(data / folder, account.pw_uid, account.pw_gid)
            imported.append(folder)
    os.chown(partial, account.pw_uid, account.pw_gid)
    os.chmod(partial, 0o600)
    os.replace(partial, data / database)
    return {
        "imported": str(db),
        "into": str(data / database),
        "folders": imported,
        "counts": _counts(data / database),
    }


def listing(dest: Path) -> dict[str, Any]:
    names = os.listdir(dest) if dest.is_dir() else []
    return {
        "copies": [{"id": i, "size": (dest / f"{i}{SUFFIX}").stat().st_size} for i in ids_in(names)]
    }


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="backup_host", description=(__doc__ or "").split("\n")[0])
    sub = top.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", type=Path, required=True)
        p.add_argument("--dest", type=Path, required=True)
        p.add_argument("--database", required=True)
        p.add_argument("--folder", dest="folders", action="append", default=[])
        p.add_argument("--keep", type=int, required=True)

    b = sub.add_parser("backup")
    common(b)
    b.add_argument("--reason", required=True)
    b.add_argument("--venv")
    r = sub.add_parser("restore")
    r.add_argument("archive", type=Path)
    common(r)
    r.add_argument("--owner", required=True)
    r.add_argument("--unit", required=True)
    r.add_argument("--admin-email")
    r.add_argument("--admin-password-file", type=Path)
    li = sub.add_parser("list")
    li.add_argument("--dest", type=Path, required=True)
    im = sub.add_parser("import")
    im.add_argument("--from", dest="source", type=Path, required=True)
    im.add_argument("--data", type=Path, required=True)
    im.add_argument("--database", required=True)
    im.add_argument("--folder", dest="folders", action="append", default=[])
    im.add_argument("--owner", required=True)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.umask(0o077)
    try:
        if args.action == "backup":
            out = backup(
                args.data,
                args.dest,
                args.database,
                args.folders,
                args.keep,
                args.reason,
                args.venv,
            )
        elif args.action == "restore":
            out = restore(
                args.archive,
                args.data,
                args.dest,
                args.database,
                args.folders,
                args.keep,
                args.owner,
                args.unit,
                args.admin_email,
                args.admin_password_file,
            )
        elif args.action == "import":
            out = import_data(args.source, args.data, args.database, args.folders, args.owner)
        else:
            out = listing(args.dest)
    except (BackupError, sqlite3.Error, OSError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
