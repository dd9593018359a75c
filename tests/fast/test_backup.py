"""Backups of Open WebUI's data without a host: copy names, retention, the commands the CLI and
the deploy run, and the host program itself on a local SQLite database (a copy made while a
writer holds an open transaction has only what was committed; a restore puts rows, uploads
and the admin's password back)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shlex
import sqlite3
import tarfile
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.backup import (
    BackupFailed,
    local_dir,
    plan_for,
    select,
    webui_host,
)
from homelab.backup_host import (
    BackupError,
    backup,
    copy_id,
    copy_time,
    free_id,
    ids_in,
    restore,
    to_prune,
)
from homelab.load import load_platform
from homelab.model import Platform
from homelab.services.open_webui import Backups, OpenWebUI

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- names and retention ---------------------------------------------------------------------


def test_copy_id_is_utc_time_and_reason() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    assert copy_id(dt.datetime(2025, 1, 2, 4, 4, 5, tzinfo=berlin), "deploy") == (
        "20250102T030405Z-deploy"
    )
    assert copy_time("20250102T030405Z-before-restore") == T0


@pytest.mark.parametrize("reason", ["Deploy", "pre deploy", "", "x/y", "1st"])
def test_copy_id_refuses_reasons_that_are_not_a_word(reason: str) -> None:
    with pytest.raises(ValueError):
        copy_id(T0, reason)


def test_copy_id_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        copy_id(dt.datetime(2025, 1, 2), "manual")


def test_ids_in_keeps_copies_only_oldest_first() -> None:
    names = [
        "20250103T000000Z-manual.tar.gz",
        ".partial-abc",
        "20250101T000000Z-deploy.tar.gz",
        ".incoming-20250104T000000Z-manual.tar.gz",
        "notes.txt",
        "20250102T000000Z-deploy.tar.gz.part",
        "20250102T000000Z-deploy.tar.gz",
    ]
    assert ids_in(names) == [
        "20250101T000000Z-deploy",
        "20250102T000000Z-deploy",
        "20250103T000000Z-manual",
    ]


def test_to_prune_keeps_the_newest() -> None:
    ids = [copy_id(T0 + dt.timedelta(days=d), "deploy") for d in (3, 0, 2, 1)]
    assert to_prune(ids, keep=2) == [copy_id(T0, "deploy"), copy_id(T0 + dt.timedelta(1), "deploy")]
    assert to_prune(ids, keep=4) == []
    assert to_prune(ids, keep=9) == []
    with pytest.raises(ValueError):
        to_prune(ids, keep=0)


def test_free_id_moves_on_a_second_when_taken() -> None:
    taken = ["20250102T030405Z-manual", "20250102T030406Z-manual"]
    assert free_id(T0, "manual", taken) == "20250102T030407Z-manual"
    assert free_id(T0, "deploy", taken) == "20250102T030405Z-deploy"


def test_select_newest_exact_or_unique_start() -> None:
    ids = ["20250101T000000Z-deploy", "20250102T000000Z-manual", "20250102T120000Z-manual"]
    assert select(ids, None) == "20250102T120000Z-manual"
    assert select(ids, "20250101T000000Z-deploy.tar.gz") == "20250101T000000Z-deploy"
    assert select(ids, "20250101") == "20250101T000000Z-deploy"
    with pytest.raises(BackupFailed, match="names 2 copies"):
        select(ids, "20250102")
    with pytest.raises(BackupFailed, match="no copy '2024'"):
        select(ids, "2024")
    with pytest.raises(BackupFailed, match="homelab backup"):
        select([], None)


# --- what the model says, and the commands built from it ------------------------------------


def test_model_places_and_limits_the_copies(platform: Platform) -> None:
    assert webui_host(platform) == "mini", "the real data runs Open WebUI on the Mini"
    plan = plan_for(platform)
    assert plan_for(platform, "mini") == plan
    with pytest.raises(BackupFailed, match="studio runs no Open WebUI"):
        plan_for(platform, "studio")
    assert plan.dest == "/var/lib/homelab-llm/backups/open-webui"
    assert plan.database == "/var/lib/homelab-llm/open-webui/webui.db"
    assert plan.backups.keep == 5
    with pytest.raises(ValueError):
        Backups(folders=("../etc",))
    with pytest.raises(ValueError):
        Backups(keep=0)


def test_backup_command_names_everything_from_the_model(platform: Platform) -> None:
    plan = plan_for(platform)
    argv = shlex.split(plan.backup_command("deploy", script=plan.script))
    assert argv[:3] == ["/usr/bin/python3", "/opt/homelab-llm/open-webui/backup_host.py", "backup"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert pairs == {
        "--data": "/var/lib/homelab-llm/open-webui",
        "--dest": "/var/lib/homelab-llm/backups/open-webui",
        "--database": "webui.db",
        "--folder": "uploads",
        "--keep": "5",
        "--reason": "deploy",
        "--venv": "/opt/homelab-llm/open-webui/venv",
    }
    # On demand, the program comes on stdin.
    assert shlex.split(plan.backup_command("manual"))[:3] == ["/usr/bin/python3", "-", "backup"]


def test_restore_runs_with_the_venv_and_resets_the_admin_from_the_store(
    platform: Platform,
) -> None:
    plan = plan_for(platform)
    argv = shlex.split(plan.restore_command(plan.incoming("20250101T000000Z-manual")))
    assert argv[:4] == [
        "/opt/homelab-llm/open-webui/venv/bin/python",
        "-",
        "restore",
        "/var/lib/homelab-llm/backups/open-webui/.incoming-20250101T000000Z-manual.tar.gz",
    ]
    assert ids_in([Path(argv[3]).name]) == []  # retention never counts an incoming copy
    joined = " ".join(argv)
    assert "--owner open-webui --unit open-webui.service" in joined
    assert "--admin-email admin@homelab.lan" in joined
    assert "--admin-password-file /etc/homelab-llm/secrets/store/WEBUI_ADMIN_PASSWORD" in joined


def test_local_copies_live_beside_their_inventory(tmp_path: Path) -> None:
    assert local_dir(PROJECT_ROOT / "lab" / "inventory.py", "mini") == (
        PROJECT_ROOT / "lab" / "backups" / "mini"
    )
    assert local_dir(PROJECT_ROOT / "inventory.py", "mini") == PROJECT_ROOT / "backups" / "mini"
    assert local_dir(PROJECT_ROOT / "inventory.py", "mini", tmp_path) == tmp_path / "mini"


def test_copies_are_ignored_by_git() -> None:
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert "backups/" in ignored


def test_previous_lab_differs_only_in_open_webui() -> None:
    lab = load_platform(PROJECT_ROOT / "lab" / "inventory.py")
    previous = load_platform(PROJECT_ROOT / "lab" / "previous" / "inventory.py")
    host = webui_host(lab)
    assert webui_host(previous) == host
    ours, theirs = lab.host(host).get(OpenWebUI), previous.host(host).get(OpenWebUI)
    assert ours is not None and theirs is not None
    assert theirs.package.version != ours.package.version
    reverted = previous.evolve(
        hosts={**previous.hosts, host: previous.host(host).evolve(open_webui=ours)}
    )
    assert reverted == lab


# --- the host program on a local database ---------------------------------------------------


def make_data(root: Path) -> Path:
    data = root / "data"
    (data / "uploads").mkdir(parents=True)
    (data / "uploads" / "notes.txt").write_text("hello")
    con = sqlite3.connect(data / "webui.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(
        """
        CREATE TABLE user (id TEXT PRIMARY KEY, email TEXT);
        CREATE TABLE auth (id TEXT PRIMARY KEY, email TEXT, password TEXT);
        CREATE TABLE chat (id TEXT PRIMARY KEY, title TEXT);
        INSERT INTO user VALUES ('u1', 'admin@homelab.lan'), ('u2', 'ada@lab');
        INSERT INTO auth VALUES ('u1', 'admin@homelab.lan', 'old-hash');
        INSERT INTO chat VALUES ('c1', 'first chat');
        """
    )
    con.commit()
    con.close()
    return data


def rows(db: Path, table: str) -> list[tuple[str, ...]]:
    con = sqlite3.connect(db)
    try:
        return sorted(con.execute(f"SELECT * FROM {table}").fetchall())
    finally:
        con.close()


def test_a_copy_has_only_what_was_committed_while_a_writer_is_busy(tmp_path: Path) -> None:
    data = make_data(tmp_path)
    writer = sqlite3.connect(data / "webui.db", isolation_level=None)
    writer.execute("BEGIN")
    writer.execute("INSERT INTO chat VALUES ('c2', 'not committed yet')")
    made = backup(data, tmp_path / "copies", "webui.db", ["uploads", "absent"], 3, "manual", now=T0)
    writer.execute("ROLLBACK")
    writer.close()

    assert made["id"] == "20250102T030405Z-manual"
    assert made["counts"] == {"user": 2, "chat": 1}
    assert made["folders"] == ["uploads"]
    archive = Path(made["path"])
    assert archive.name == "20250102T030405Z-manual.tar.gz"
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
        tar.extractall(tmp_path / "out", filter="data")
    assert names == [
        "20250102T030405Z-manual",
        "20250102T030405Z-manual/manifest.json",
        "20250102T030405Z-manual/uploads",
        "20250102T030405Z-manual/uploads/notes.txt",
        "20250102T030405Z-manual/webui.db",  # one file: no -wal beside it
    ]
    copy = tmp_path / "out" / made["id"]
    assert rows(copy / "webui.db", "chat") == [("c1", "first chat")]
    assert json.loads((copy / "manifest.json").read_text())["reason"] == "manual"


def test_no_database_nothing_to_back_up(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        backup(tmp_path, tmp_path / "copies", "webui.db", [], 3, "deploy")


def test_retention_on_the_host_keeps_the_newest(tmp_path: Path) -> None:
    data = make_data(tmp_path)
    dest = tmp_path / "copies"
    made = [
        backup(data, dest, "webui.db", [], 2, "deploy", now=T0 + dt.timedelta(hours=h))
        for h in range(4)
    ]
    assert made[2]["pruned"] == ["20250102T030405Z-deploy"]
    assert ids_in(p.name for p in dest.iterdir()) == [made[2]["id"], made[3]["id"]]
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []


def test_restore_puts_rows_uploads_and_the_admin_password_back(tmp_path: Path) -> None:
    bcrypt = pytest.importorskip("bcrypt")
    data = make_data(tmp_path)
    dest = tmp_path / "copies"
    made = backup(data, dest, "webui.db", ["uploads"], 5, "manual", now=T0)
    # The host is rebuilt: a fresh database, an upload that was not there, a new secret.
    (data / "webui.db").unlink()
    (data / "uploads" / "notes.txt").unlink()
    (data / "uploads" / "other.txt").write_text("new")
    con = sqlite3.connect(data / "webui.db")
    con.executescript("CREATE TABLE user (id TEXT, email TEXT); INSERT INTO user VALUES ('n', '');")
    con.close()
    secret = tmp_path / "WEBUI_ADMIN_PASSWORD"
    secret.write_text("new-secret\n")

    with pytest.raises(BackupError, match="is running"):
        restore(
            Path(made["path"]),
            data,
            dest,
            "webui.db",
            ["uploads"],
            5,
            getpass.getuser(),
            "open-webui.service",
            running=lambda unit: True,
        )
    done = restore(
        Path(made["path"]),
        data,
        dest,
        "webui.db",
        ["uploads"],
        5,
        getpass.getuser(),
        "open-webui.service",
        "ADMIN@homelab.lan",
        secret,
        running=lambda unit: False,
    )
    assert done["restored"] == made["id"]
    assert done["counts"] == {"user": 2, "chat": 1}
    assert done["admin_password_reset"] is True
    assert rows(data / "webui.db", "chat") == [("c1", "first chat")]
    assert sorted(p.name for p in (data / "uploads").iterdir()) == ["notes.txt"]
    assert (data / "webui.db").stat().st_mode & 0o777 == 0o600
    (hashed,) = [r[2] for r in rows(data / "webui.db", "auth")]
    assert bcrypt.checkpw(b"new-secret", hashed.encode())
    # What was there before is itself a copy on the host.
    assert done["before_restore"] in ids_in(p.name for p in dest.iterdir())
    assert done["before_restore"].endswith("-before-restore")
