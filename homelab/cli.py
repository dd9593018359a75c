"""The ``homelab`` command: check the group data, render host files, write the dossier, run the lab.

None of these contact a host (the lab commands manage the local lab only).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from homelab.groupdata import InvalidGroupData
from homelab.load import DEFAULT_INVENTORY, load_platform
from homelab.model import ROLES, Platform


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

    from homelab.lab.cli import register

    register(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "inventories", False) is None:
        args.inventories = [DEFAULT_INVENTORY, DEFAULT_INVENTORY.parent / "lab" / "inventory.py"]
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
