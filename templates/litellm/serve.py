"""LiteLLM's proxy, started as its CLI starts it, with what a reload and a stop need on top.

Usage: ``python serve.py [--env-file FILE ...] -- LITELLM_ARGUMENTS...``

- On SIGHUP (``systemctl reload``) gunicorn forks new workers; first the env files are read
  again into its environment, so the new workers get the routes' variables and the keys the
  deploy just wrote (a variable a file no longer has stays, unused). LiteLLM's CLI starts
  gunicorn with options of its own, so gunicorn's ``on_reload`` hook cannot be set: its
  reload is wrapped instead.
- A worker told to stop (a reload or a restart) stops accepting, then gives the connections it
  has just accepted a moment to send their requests before it closes the idle ones: uvicorn
  closes a connection whose request it has not read, and closing a socket with unread bytes
  resets it, so that client's request failed. The listening socket stays open (systemd's, or
  the master's): the other workers take the new connections.
- Under systemd's ``Type=notify`` the unit is ready when a worker serves: the first worker to
  finish its start says ``READY=1``. Gunicorn's master says it as soon as it has booted, before
  any worker serves (LiteLLM's take ~10 s to start); the master's is held back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import gunicorn.arbiter
import gunicorn.systemd
import uvicorn.server
from dotenv import dotenv_values

#: Seconds a stopping worker waits, no longer accepting, before it closes idle connections.
SETTLE_S = 0.25


def split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the env files, LiteLLM's own arguments)."""
    env_files: list[str] = []
    rest = list(argv)
    while rest[:1] == ["--env-file"] and len(rest) > 1:
        env_files.append(rest[1])
        rest = rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return env_files, rest


def read(path: str) -> dict[str, str]:
    """An env file's values. dotenv reads a file it cannot open as empty: this refuses."""
    with open(path, encoding="utf-8"):  # raises when the file is missing or unreadable
        pass
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def reading_env_files(reload: Callable[[Any], None], env_files: list[str]) -> Callable[[Any], None]:
    def reload_with_env(arbiter: Any) -> None:
        for path in env_files:
            try:
                os.environ.update(read(path))
            except OSError as error:  # the new workers keep what they had: say it loudly
                print(f"serve.py: reload without {path}: {error}", file=sys.stderr, flush=True)
        reload(arbiter)

    return reload_with_env


def settling(shutdown: Callable[..., Any]) -> Callable[..., Any]:
    async def settle_then_shut_down(
        server: Any, sockets: list[socket.socket] | None = None
    ) -> None:
        for listening in server.servers:
            listening.close()
        await asyncio.sleep(SETTLE_S)
        await shutdown(server, sockets)

    return settle_then_shut_down


def not_ready_yet(notify: Callable[..., None]) -> Callable[..., None]:
    """Gunicorn's ``sd_notify`` without its master's READY=1 (no worker serves then)."""

    def notify_but_ready(state: str, logger: Any, unset_environment: bool = False) -> None:
        if not state.startswith("READY=1"):
            notify(state, logger, unset_environment)

    return notify_but_ready


def telling_ready(startup: Callable[..., Any], notify: Callable[..., None]) -> Callable[..., Any]:
    """uvicorn's start of a worker, which then tells systemd it serves (where it asks:
    ``NOTIFY_SOCKET``; ``NotifyAccess=all`` lets a worker, not only the master, say so)."""

    async def start_then_tell(server: Any, sockets: list[socket.socket] | None = None) -> None:
        await startup(server, sockets)
        if server.started:
            notify(f"READY=1\nSTATUS=worker {os.getpid()} serves", logging.getLogger(__name__))

    return start_then_tell


def main(argv: Sequence[str]) -> int:
    env_files, arguments = split(argv)
    for path in env_files:
        read(path)  # one it cannot read now it could not read again at a reload
    arbiter = gunicorn.arbiter.Arbiter
    arbiter.reload = reading_env_files(arbiter.reload, env_files)  # type: ignore[method-assign]
    server = uvicorn.server.Server
    server.shutdown = settling(server.shutdown)  # type: ignore[method-assign]
    notify = gunicorn.systemd.sd_notify
    gunicorn.systemd.sd_notify = not_ready_yet(notify)
    server.startup = telling_ready(server.startup, notify)  # type: ignore[method-assign]
    sys.argv = ["litellm", *arguments]
    from litellm_cli.main import proxy_server

    result = proxy_server()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
