"""The ``homelab`` command: check the group data, render host files, write the dossier, run the lab.

None of these contact a host (the lab commands manage the local lab only), except ``backup``
and ``restore``, which reach the host running Open WebUI as the inventory says, and ``rotate``,
which reaches the host it names.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from homelab.groupdata import InvalidGroupData
from homelab.load import DEFAULT_INVENTORY, load_platform
from homelab.model import ROLES, Platform

#: The platforms ``homelab lock`` locks for by default: the real one, the lab, and the lab with
#: Open WebUI one release back (the start of the lab's upgrade test).
LOCKED_INVENTORIES = (
    DEFAULT_INVENTORY,
    DEFAULT_INVENTORY.parent / "lab" / "inventory.py",
    DEFAULT_INVENTORY.parent / "lab" / "previous" / "inventory.py",
)


def _platform(args: argparse.Namespace) -> Platform:
    return load_platform(args.inventory)


def cmd_check(args: argparse.Namespace) -> int:
    platform = _platform(args)
    handles = sum(1 for _ in platform.handles())
    print(f"ok: {args.inventory}: 2 hosts, {handles} handles, group data valid")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from homelab.render import host_files, write_tree

    platform = _platform(args)
    written = write_tree(host_files(platform, args.host), args.out)
    for path in written:
        print(path)
    return 0


def cmd_dossier(args: argparse.Namespace) -> int:
    from homelab.dossier import write_dossier

    for path in write_dossier(_platform(args), args.out):
        print(path)
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from homelab.locks import locks, stale

    platforms = [load_platform(path) for path in args.inventories]
    wanted = locks(platforms)
    missing = [lock for lock in wanted if not lock.is_current()]
    if args.check:
        for lock in missing:
            print(
                f"missing: {lock.path.relative_to(lock.path.parents[2])} "
                f"({'; '.join(lock.requirements)})"
            )
        for path in stale(wanted):
            print(f"stale: {path.name}")
        return 1 if missing else 0
    for lock in wanted if args.all else missing:
        print(f"locking {lock.path.name} ...", flush=True)
        lock.compile(args.find_links)
    for path in stale(wanted):
        print(f"removing stale {path.name}")
        path.unlink()
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from homelab.backup import BackupFailed, backup, human, listing

    try:
        if args.list:
            found = listing(args.inventory, args.local)
            for where in ("host", "local"):
                print(f"{where}: {' '.join(found[where]) or '(none)'}")
            return 0
        path, made = backup(args.inventory, args.local)
    except BackupFailed as error:
        print(f"error: backup {args.host}: {error}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {t}" for t, n in made["counts"].items())
    print(f"{made['id']}: {human(made['size'])} ({counts}; Open WebUI {made['version']})")
    print(f"  on the host: {made['path']}")
    print(f"  here: {path}")
    print(f"  secrets ({len(made['secrets']['names'])}, 0600): {made['secrets']['path']}")
    for old in made["pruned"]:
        print(f"  removed on the host (only the newest are kept): {old}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from homelab.backup import BackupFailed, restore

    try:
        done = restore(args.inventory, args.copy, args.local)
    except BackupFailed as error:
        print(f"error: restore {args.host}: {error}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {t}" for t, n in done["counts"].items())
    print(f"restored {done['restored']} (Open WebUI {done['version']}; {counts})")
    if done["before_restore"]:
        print(f"  what was there is kept on the host as {done['before_restore']}")
    secrets = done["secrets"]
    if secrets is None:
        print("  no secret store copy beside it: the host's secrets stay as they are")
    else:
        print(f"  secrets put back; changed: {', '.join(secrets['changed']) or 'none'}")
        print(f"  env files rewritten: {', '.join(secrets['rewritten']) or 'none'}")
        print(f"  restarted: {', '.join(secrets['restarted']) or 'none'}")
        print(f"  the store that was there is kept on the host: {secrets['aside']}")
    if done["admin_password_reset"] is False:
        print("  warning: the copy has no account with the admin e-mail of the data")
    return 0


def cmd_hardening(args: argparse.Namespace) -> int:
    from homelab.hardening import report, scores

    lines, ok = report(scores(args.inventory))
    for line in lines:
        print(line)
    return 0 if ok else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="homelab", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    def with_inventory(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--inventory",
            type=Path,
            default=DEFAULT_INVENTORY,
            help="pyinfra inventory whose group data to use (default: %(default)s)",
        )
        return p

    check = with_inventory(sub.add_parser("check", help="validate the group data; no host"))
    check.set_defaults(func=cmd_check)

    render = with_inventory(sub.add_parser("render", help="write every file a host receives"))
    render.add_argument("host", choices=ROLES)
    render.add_argument("--out", type=Path, required=True)
    render.set_defaults(func=cmd_render)

    dossier = with_inventory(sub.add_parser("dossier", help="write PLATFORM_DOSSIER.md + SVG"))
    dossier.add_argument("--out", type=Path, required=True)
    dossier.set_defaults(func=cmd_dossier)

    hardening = with_inventory(
        sub.add_parser("hardening", help="each unit's systemd-analyze security score, on the hosts")
    )
    hardening.set_defaults(func=cmd_hardening)

    lock = sub.add_parser("lock", help="resolve the venvs' requirements into deploys/requirements")
    lock.add_argument(
        "--inventory",
        dest="inventories",
        type=Path,
        action="append",
        help="inventory whose platform to lock for (repeatable; default: the real and the lab)",
    )
    lock.add_argument(
        "--find-links",
        action="append",
        default=[],
        help="where CPU torch wheels are, for resolving (e.g. /opt/wheels)",
    )
    lock.add_argument("--all", action="store_true", help="resolve every lock again")
    lock.add_argument("--check", action="store_true", help="only say what is missing")
    lock.set_defaults(func=cmd_lock)

    data_help = (
        "Open WebUI's database and uploads: a copy made on the host now, kept there (the "
        "newest few) and fetched to backups/HOST/ beside the inventory"
    )
    bk = with_inventory(sub.add_parser("backup", help=data_help.split(":")[0] + ": back up"))
    bk.description = data_help
    bk.add_argument("host", choices=["mini"], help="the host running Open WebUI")
    bk.add_argument("--local", type=Path, help="where local copies go (default: backups/)")
    bk.add_argument("--list", action="store_true", help="only list the copies, host and local")
    bk.set_defaults(func=cmd_backup)

    rs = with_inventory(
        sub.add_parser("restore", help="put a local copy of Open WebUI's data back on the host")
    )
    rs.add_argument("host", choices=["mini"], help="the host running Open WebUI")
    rs.add_argument("copy", nargs="?", help="a copy id or its unique start (default: newest)")
    rs.add_argument("--local", type=Path, help="where local copies are (default: backups/)")
    rs.set_defaults(func=cmd_restore)

    from homelab.lab.cli import register
    from homelab.secrets import register_rotate

    register_rotate(with_inventory(sub.add_parser("rotate", help="replace one secret on purpose")))
    register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "inventories", False) is None:
        args.inventories = list(LOCKED_INVENTORIES)
    try:
        code: int = args.func(args)
    except InvalidGroupData as error:
        print(f"error: {getattr(args, 'inventory', '')}: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
