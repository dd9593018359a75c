"""Reaching the hosts of an inventory the way pyinfra does, for the operator's commands.

The inventory is loaded with pyinfra's own loader and each host is connected through its own
connector with its own data (``ssh_hostname``, ``ssh_user``, ``ssh_port``, ``ssh_key``,
``ssh_known_hosts_file``, ``ssh_strict_host_key_checking``, ...): the console reaches exactly
the hosts a deploy reaches, the same way. Commands run as root: directly when the SSH user is
root, through sudo otherwise (or when the host's data sets ``_sudo``), as a deploy's do.
"""

from __future__ import annotations

import posixpath
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from homelab.load import load_inventory


class Unreachable(Exception):
    """A host the console could not connect to; the message names it and why."""


@dataclass(frozen=True)
class Result:
    ok: bool
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Settings:
    """How pyinfra reaches one host, as its inventory and data say (for messages and tests)."""

    role: str
    name: str
    connector: str
    hostname: str
    user: str | None
    port: int | None
    key: str | None
    known_hosts: str | None
    strict: str | None
    sudo: bool

    def describe(self) -> str:
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.name} ({self.connector} {who}{self.hostname}{port})"


def _host(inventory: Any, name: str) -> Any:
    found = inventory.get_host(name)
    if found is None:
        names = ", ".join(h.name for h in inventory)
        raise Unreachable(f"the inventory has no host {name!r} (hosts: {names})")
    return found


def _strict(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _sudo(data: Any) -> bool:
    user = data.get("ssh_user")
    return bool(data.get("_sudo")) or (user is not None and user != "root")


def settings(inventory: Path | str) -> dict[str, Settings]:
    """Each host's connection settings, read from the inventory and its data; no connection."""
    inv = load_inventory(inventory)
    out: dict[str, Settings] = {}
    for host in inv:
        role = host.name
        data = host.data
        port = data.get("ssh_port")
        out[role] = Settings(
            role=role,
            name=host.name,
            connector=host.connector_cls.__name__,
            hostname=str(data.get("ssh_hostname") or host.name),
            user=data.get("ssh_user"),
            port=int(port) if port else None,
            key=data.get("ssh_key"),
            known_hosts=data.get("ssh_known_hosts_file"),
            strict=_strict(data.get("ssh_strict_host_key_checking")),
            sudo=_sudo(data),
        )
    return out


class Remote:
    """One connected host: run a shell command as root, fetch or send a file."""

    def __init__(self, role: str, host: Any) -> None:
        self.role = role
        self.host = host
        self.name: str = host.name
        self.sudo = _sudo(host.data)

    def _args(self) -> dict[str, Any]:
        return {"_sudo": True} if self.sudo else {}

    def run(self, command: str, stdin: str | None = None, timeout: int | None = None) -> Result:
        """``command`` through ``sh`` on the host; ``stdin`` is text (a program, say)."""
        extra: dict[str, Any] = self._args()
        if stdin is not None:
            extra["_stdin"] = stdin
        if timeout is not None:
            extra["_timeout"] = timeout
        # pyinfra runs it as ``sh -c COMMAND`` (quoted), through sudo when needed.
        ok, output = self.host.run_shell_command(command, **extra)
        return Result(bool(ok), output.stdout, output.stderr)

    def stream(self, command: str, out: TextIO = sys.stdout) -> bool:
        """Run ``command``, writing its output as it comes (``journalctl -f``); True on success."""
        from pyinfra.api.command import StringCommand
        from pyinfra.connectors.util import make_unix_command_for_host

        client = getattr(self.host.connector, "client", None)
        if client is None:  # a connector without a channel (local, @fake): all at once
            done = self.run(command)
            out.write(done.stdout + ("\n" if done.stdout else ""))
            if done.stderr:
                print(done.stderr, file=sys.stderr)
            return done.ok
        unix = make_unix_command_for_host(
            self.host.state, self.host, StringCommand(command), **self._args()
        )
        stdin, stdout, stderr = client.exec_command(unix.get_raw_value())
        stdin.close()
        for line in stdout:
            out.write(line if isinstance(line, str) else line.decode())
            out.flush()
        err = stderr.read().decode().strip()
        if err:
            print(err, file=sys.stderr)
        return bool(stdout.channel.recv_exit_status() == 0)

    def fetch(self, remote: str, local: Path) -> None:
        """Copy a root-only file here, without leaving a readable copy on the host.

        As root the file comes straight over SFTP; through sudo it is first copied into a
        private (0700) folder of the SSH user, owned by that user and 0600, and removed after.
        """
        if not self.sudo:
            self._get(remote, local)
            return
        with self._private_dir() as folder:
            copy = f"{folder}/{posixpath.basename(remote)}"
            q = shlex.quote
            done = self.run(f'install -m 0600 -o "$SUDO_USER" {q(remote)} {q(copy)}')
            if not done.ok:
                raise Unreachable(f"{self.name}: copying {remote} to fetch it: {done.stderr}")
            self._get(copy, local)

    def send(self, local: Path, remote: str, mode: str = "0600") -> None:
        """Put a local file at ``remote``, root's, ``mode``; never readable by others on the way."""
        q = shlex.quote
        with self._private_dir() as folder:
            staged = f"{folder}/{posixpath.basename(remote)}"
            if not self.host.put_file(str(local), staged):
                raise Unreachable(f"{self.name}: sending {local} failed")
            done = self.run(
                f"umask 077 && mkdir -p {q(posixpath.dirname(remote))} && "
                f"install -m {mode} -o root {q(staged)} {q(remote)}.part && "
                f"mv {q(remote)}.part {q(remote)}"
            )
            if not done.ok:
                raise Unreachable(f"{self.name}: placing {remote}: {done.stderr}")

    def _get(self, remote: str, local: Path) -> None:
        if not self.host.get_file(remote, str(local)):
            raise Unreachable(f"{self.name}: fetching {remote} failed")

    @contextmanager
    def _private_dir(self) -> Iterator[str]:
        """A fresh 0700 folder of the SSH user (not root's: SFTP runs as that user)."""
        ok, output = self.host.run_shell_command("mktemp -d /tmp/homelab.XXXXXXXX")
        if not ok:
            raise Unreachable(f"{self.name}: no temporary folder: {output.stderr}")
        folder = output.stdout.strip()
        try:
            yield folder
        finally:
            self.run(f"rm -rf {shlex.quote(folder)}")


@contextmanager
def connected(
    inventory: Path | str,
    roles: Sequence[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Remote]]:
    """The inventory's hosts named ``roles`` (every host: None), connected by pyinfra;
    disconnected on leaving."""
    from pyinfra.api.config import Config
    from pyinfra.api.exceptions import ConnectError
    from pyinfra.api.state import State

    inv = load_inventory(inventory)
    State(inv, Config())  # type: ignore[no-untyped-call]
    remotes: dict[str, Remote] = {}
    try:
        for role in roles if roles is not None else [h.name for h in inv]:
            host = _host(inv, role)
            if say:
                say(f"connecting to {role} ({host.data.get('ssh_hostname') or host.name})")
            try:
                host.connect(raise_exceptions=True, show_errors=False)
            except ConnectError as error:
                raise Unreachable(f"{role}: cannot connect: {error}") from None
            remotes[role] = Remote(role, host)
        yield remotes
    finally:
        for remote in remotes.values():
            remote.host.disconnect()


def lines(text: str) -> Iterable[str]:
    return (line for line in text.splitlines() if line.strip())
