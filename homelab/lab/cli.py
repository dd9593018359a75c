"""``homelab lab ...``: up, down, destroy, status and ssh for the local lab."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from homelab.lab import lifecycle, ssh
from homelab.lab.config import DEFAULT_INVENTORY, ConfigError, LabConfig, load_config
from homelab.lab.errors import LabError
from homelab.lab.system import require_root, which

Handler = Callable[[argparse.Namespace], int]


def _say(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def _guarded(action: str, handler: Callable[[argparse.Namespace, LabConfig], int]) -> Handler:
    """Turn a lab fault into one line on stderr and exit code 1."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return handler(args, load_config(inventory=args.inventory))
        except (LabError, ConfigError) as exc:
            print(f"homelab lab {action}: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"homelab lab {action}: interrupted", file=sys.stderr)
            return 130

    return wrapped


def _up(args: argparse.Namespace, config: LabConfig) -> int:
    started = time.monotonic()
    states = lifecycle.up(config, _say, timeout=args.timeout, keep_on_failure=args.keep_on_failure)
    took = time.monotonic() - started
    for name, state in states.items():
        print(f"{name}\t{config.address(name)}\t{state.state}")
    first = next(iter(states), "HOST")
    print(f"the lab is up in {took:.1f} s: homelab lab ssh {first}, homelab lab status")
    return 0


def _down(args: argparse.Namespace, config: LabConfig) -> int:
    lifecycle.down(config, _say)
    return 0


def _destroy(args: argparse.Namespace, config: LabConfig) -> int:
    lifecycle.destroy(config, [args.host] if args.host else [], _say)
    return 0


def _print_status(report: dict[str, Any]) -> None:
    print(
        f"lab: {'up' if report['up'] else 'not up'} (bridge {report['bridge']}, {report['subnet']})"
    )
    print(f"{'HOST':<8} {'ADDRESS':<15} {'SYSTEMD':<12} SSH")
    for host in report["hosts"].values():
        print(
            f"{host['name']:<8} {host['address'] or '?':<15} {host['systemd']:<12} "
            f"{host['ssh_user']}@{host['address']} -i {host['ssh_key']}"
            + ("" if host["listed"] else f"  (not in {report['inventory']})")
        )


def _status(args: argparse.Namespace, config: LabConfig) -> int:
    report = lifecycle.status(config)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_status(report)
    return 0


def _ssh(args: argparse.Namespace, config: LabConfig) -> int:
    require_root("ssh")
    known = lifecycle.host_names(config)
    if args.host not in known:
        raise LabError(f"no lab host is named {args.host!r}", f"name one of {', '.join(known)}")
    if not config.ssh_config.exists():
        raise LabError("the lab has no SSH setup yet", "bring it up first: homelab lab up")
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    tty = not command and sys.stdin.isatty()
    argv = ssh.ssh_argv(config, args.host, command, tty=tty)
    sys.stdout.flush()
    os.execv(which("ssh") or "/usr/bin/ssh", argv)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``lab`` command and its subcommands to the ``homelab`` parser."""
    parser = subparsers.add_parser(
        "lab",
        help="run the local lab: the lab inventory's hosts as systemd hosts on this machine",
        description="The local lab: the hosts of a lab inventory, each a Debian host booted "
        "with systemd-nspawn on a bridge.",
    )

    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=show_help)
    sub = parser.add_subparsers(dest="lab_command", metavar="COMMAND")
    # On each command, so it may come after the command's name like the other options.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--inventory",
        type=Path,
        default=DEFAULT_INVENTORY,
        metavar="FILE",
        help="pyinfra inventory whose hosts the lab runs (default: %(default)s)",
    )

    up = sub.add_parser(
        "up",
        parents=[common],
        help="run every host the inventory lists, stop any other (idempotent; recovers a "
        "killed lab)",
    )
    up.add_argument(
        "--timeout", type=float, default=120, help="seconds to wait for systemd (default 120)"
    )
    up.add_argument(
        "--keep-on-failure",
        action="store_true",
        help="leave hosts that did not reach 'running' up, to look inside",
    )
    up.set_defaults(func=_guarded("up", _up))

    down = sub.add_parser(
        "down", parents=[common], help="stop every host, remove bridge, rules and mounts"
    )
    down.set_defaults(func=_guarded("down", _down))

    destroy = sub.add_parser(
        "destroy",
        parents=[common],
        help="down, then delete a host's file system (every host's when none is named)",
    )
    destroy.add_argument(
        "host", nargs="?", help="a host the inventory lists, or one the lab runs or keeps"
    )
    destroy.set_defaults(func=_guarded("destroy", _destroy))

    status = sub.add_parser(
        "status", parents=[common], help="each host's address, SSH access and systemd state"
    )
    status.add_argument("--json", action="store_true", help="machine-readable (stable fields)")
    status.set_defaults(func=_guarded("status", _status))

    shell = sub.add_parser(
        "ssh",
        parents=[common],
        help="open a shell on a host, or run a command there (--inventory before HOST)",
    )
    shell.add_argument("host", help="a host the inventory lists, or one that runs")
    shell.add_argument("command", nargs=argparse.REMAINDER, help="command to run (optional)")
    shell.set_defaults(func=_guarded("ssh", _ssh))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m homelab.lab ...``: the lab's commands without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="homelab")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lab", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
