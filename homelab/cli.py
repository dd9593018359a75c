"""The ``homelab`` command: check the group data, render host files, write the dossier, run the lab;
and the operator's console: up, status, diff, logs, backup, restore.

check, render, dossier and lock contact no host (the lab commands manage the local lab only);
the console (and ``rotate``) reaches the inventory's hosts the way pyinfra does, with its
connection settings.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn, cast

from pyinfra.api.exceptions import PyinfraError

from homelab.groupdata import InvalidGroupData
from homelab.load import DEFAULT_INVENTORY, InvalidInventory, load_platform
from homelab.model import Platform

#: The platforms ``homelab lock`` locks for by default: the real one, the lab, and the lab with
#: Open WebUI one release back (the start of the lab's upgrade test).
LOCKED_INVENTORIES = (
    DEFAULT_INVENTORY,
    DEFAULT_INVENTORY.parent / "lab" / "inventory.py",
    DEFAULT_INVENTORY.parent / "lab" / "previous" / "inventory.py",
)


class Misuse(Exception):
    """A command given something it cannot use; said in one line, nothing touched."""


class Parser(argparse.ArgumentParser):
    """argparse with its complaints in one line (the usage is one ``-h`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def _platform(args: argparse.Namespace) -> Platform:
    return load_platform(args.inventory)


def _out_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise Misuse(f"--out {path}: a file, not a directory")
    return path


def _say(command: str) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(f"{command}: {line}", file=sys.stderr, flush=True)

    return say


def _version() -> str:
    try:
        return version("homelab-llm")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class NoSuchHost(ValueError):
    """A host the inventory does not name."""


def _host(platform: Platform, name: str) -> str:
    """``name`` when the platform has that host; else a clear refusal naming the hosts."""
    if name not in platform.hosts:
        raise NoSuchHost(f"no host {name!r} in the inventory (hosts: {', '.join(platform.hosts)})")
    return name


def cmd_check(args: argparse.Namespace) -> int:
    platform = _platform(args)
    handles = sum(1 for _ in platform.handles())
    hosts = len(platform.hosts)
    print(f"ok: {args.inventory}: {hosts} hosts, {handles} handles, group data valid")
    from homelab.takeover import summary

    for host in platform.hosts:
        print(summary(platform, host))
    return 0


def cmd_way_back(args: argparse.Namespace) -> int:
    from homelab.takeover import way_back

    platform = _platform(args)
    commands = way_back(platform, _host(platform, args.host))
    if not commands:
        print(
            f"error: {args.host} took over nothing: there is no way back to take", file=sys.stderr
        )
        return 1
    for command in commands:
        print(command)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from homelab.render import MANIFEST, foreign_files, host_files, write_tree

    out = _out_dir(args.out)
    platform = _platform(args)
    # A render removes only what a render wrote (its manifest), never other files: --out may
    # name a folder of the operator's by mistake. Such a folder is refused rather than mixed
    # with the render, so DIR holds exactly what the model renders.
    foreign = foreign_files(out)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise Misuse(
            f"--out {out}: holds {foreign[0]}{more}, which no render wrote (no {MANIFEST} "
            "lists it); give an empty folder or a previous render's"
        )
    written = write_tree(host_files(platform, _host(platform, args.host)), out)
    for path in written:
        print(path)
    return 0


def cmd_dossier(args: argparse.Namespace) -> int:
    from homelab.dossier import write_dossier

    out = _out_dir(args.out)
    for path in write_dossier(_platform(args), out):
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


def _webui_host(args: argparse.Namespace) -> None:
    """Refuse, before any connection, a host the inventory lacks or one with no Open WebUI."""
    from homelab.services.open_webui import OpenWebUI

    platform = _platform(args)
    if platform.host(_host(platform, args.host)).get(OpenWebUI) is None:
        raise Misuse(f"{args.host} runs no Open WebUI in the data: its data is elsewhere")


def cmd_backup(args: argparse.Namespace) -> int:
    from homelab.backup import BackupFailed, backup, human, listing

    _webui_host(args)
    try:
        if args.list:
            found = listing(args.inventory, args.local, _say("backup"), at=args.host)
            for where in ("host", "local"):
                print(f"{where}: {' '.join(found[where]) or '(none)'}")
            return 0
        path, made = backup(args.inventory, args.local, _say("backup"), at=args.host)
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

    _webui_host(args)
    try:
        done = restore(args.inventory, args.copy, args.local, _say("restore"), at=args.host)
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
        print(f"  reloaded: {', '.join(secrets['reloaded']) or 'none'}")
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


def cmd_status(args: argparse.Namespace) -> int:
    from homelab.console.status import check

    lines, ok = check(args.inventory)
    for line in lines:
        print(line)
    return 0 if ok else 1


def cmd_diff(args: argparse.Namespace) -> int:
    from homelab.console.diff import diff

    _host(_platform(args), args.host)
    lines, differing = diff(args.inventory, args.host)
    sys.stdout.writelines(lines)
    print(
        f"{args.host}: {differing} file(s) differ from the model"
        if differing
        else f"{args.host}: every file is as the model renders it",
        file=sys.stderr,
    )
    return 1 if differing else 0


def cmd_logs(args: argparse.Namespace) -> int:
    from homelab.console.logs import show

    if args.lines < 0:
        raise Misuse(f"-n {args.lines}: a number of lines is 0 or more")
    show(args.inventory, args.service, args.lines, args.follow)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from homelab.console.weights import Refused, held, offload, prune

    words: list[str] = args.words
    platform = _platform(args)
    if words[:1] == ["prune"]:
        if len(words) != 2:
            raise Misuse("weights prune HOST: name one host")
        for line in prune(args.inventory, _host(platform, words[1]), args.yes):
            print(line)
        return 0
    if words[:1] == ["offload"]:
        if len(words) != 3:
            raise Misuse("weights offload HOST REPO: name one host and one repository")
        try:
            lines = offload(args.inventory, _host(platform, words[1]), words[2], args.yes)
        except Refused as refused:
            print(f"homelab weights: {refused}", file=sys.stderr)
            return 1
        for line in lines:
            print(line)
        return 0
    if len(words) > 1:
        raise Misuse(f"weights {' '.join(words)}: expected [HOST], prune HOST or offload HOST REPO")
    hosts = [_host(platform, words[0])] if words else None
    rows = held(args.inventory, hosts)
    for row in rows:
        print(row.line())
    if not rows:
        print("no host holds weights in its hub cache")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from homelab.console.up import StepFailed, up

    try:
        lines = up(args.inventory, _say("up"))
    except StepFailed as error:
        print(f"homelab up: error: {error}", file=sys.stderr)
        return error.code
    for line in lines:
        print(line)
    return 0


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="homelab", description=__doc__)
    top.add_argument("--version", action="version", version=f"homelab {_version()}")
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

    back = with_inventory(
        sub.add_parser(
            "way-back",
            help="print the shell commands that put HOST's legacy units back in charge",
        )
    )
    back.description = (
        "The platform's daemons that replaced legacy units stopped and disabled, the legacy "
        "units (launchd jobs) enabled and started again, their files as they were. Run as root "
        "on the host: homelab way-back mini | ssh root@MINI sh -ex"
    )
    back.add_argument("host", help="a host of the inventory")
    back.set_defaults(func=cmd_way_back)

    render = with_inventory(sub.add_parser("render", help="write every file a host receives"))
    render.add_argument("host", help="a host of the inventory")
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
        help="more places for wheels, after the toolchain's find_links (e.g. /opt/wheels)",
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
    bk.add_argument("host", help="the host running Open WebUI")
    bk.add_argument("--local", type=Path, help="where local copies go (default: backups/)")
    bk.add_argument("--list", action="store_true", help="only list the copies, host and local")
    bk.set_defaults(func=cmd_backup)

    rs = with_inventory(
        sub.add_parser("restore", help="put a local copy of Open WebUI's data back on the host")
    )
    rs.add_argument("host", help="the host running Open WebUI")
    rs.add_argument("copy", nargs="?", help="a copy id or its unique start (default: newest)")
    rs.add_argument("--local", type=Path, help="where local copies are (default: backups/)")
    rs.set_defaults(func=cmd_restore)

    st = with_inventory(
        sub.add_parser(
            "status",
            help="each daemon running, healthy, its version and bind; drift from the model",
        )
    )
    st.set_defaults(func=cmd_status)

    df = with_inventory(
        sub.add_parser("diff", help="each live file of a host against what the model renders")
    )
    df.add_argument("host", help="a host of the inventory")
    df.set_defaults(func=cmd_diff)

    lg = with_inventory(
        sub.add_parser("logs", help="a service's log (journald on Linux, its files on macOS)")
    )
    lg.add_argument("service", help="a daemon of the model: litellm, open-webui, mlx-8100, ...")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing what comes")
    lg.add_argument("-n", "--lines", type=int, default=50, help="how many (default 50)")
    lg.set_defaults(func=cmd_logs)

    wt = with_inventory(
        sub.add_parser(
            "weights",
            help="each host's hub cache: repositories, sizes, served or not; "
            "'weights prune HOST' removes what no model names, 'weights offload HOST REPO' "
            "moves one no server there serves to backroom storage (both ask, or --yes)",
        )
    )
    wt.add_argument("words", nargs="*", help="[HOST] | prune HOST | offload HOST REPO")
    wt.add_argument("--yes", action="store_true", help="prune or offload without asking")
    wt.set_defaults(func=cmd_weights)

    from homelab.console.up import LAB_INVENTORY

    upp = sub.add_parser(
        "up",
        help="the main job: lab up, converge both hosts, verify, then the URLs",
    )
    upp.add_argument(
        "--inventory",
        type=Path,
        default=LAB_INVENTORY,
        help="the hosts to converge and verify (default: the lab, %(default)s)",
    )
    upp.set_defaults(func=cmd_up)

    from homelab.lab.cli import register
    from homelab.secrets import register_rotate

    register_rotate(with_inventory(sub.add_parser("rotate", help="replace one secret on purpose")))
    register(cast("argparse._SubParsersAction[argparse.ArgumentParser]", sub))
    return top


def _stdout_closed() -> int:
    """The reader left (``homelab check | head -1``): no trace, and the shell's code for it.

    What is still buffered goes to devnull, else the flush at exit fails on the pipe again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout with no file behind it (a test's capture)
        pass
    return 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "inventories", False) is None:
        args.inventories = list(LOCKED_INVENTORIES)
    from homelab.console.connect import Unreachable
    from homelab.console.logs import UnknownService

    try:
        code: int = args.func(args)
        sys.stdout.flush()  # here, not at exit, so a closed pipe is seen below
    except BrokenPipeError:
        return _stdout_closed()
    except InvalidGroupData as error:
        print(f"error: {getattr(args, 'inventory', '')}: {error}", file=sys.stderr)
        return 2
    except (Misuse, UnknownService, NoSuchHost, FileNotFoundError, InvalidInventory) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Unreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (PyinfraError, OSError) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
