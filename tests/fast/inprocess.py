"""``homelab ARGS`` run in the test process, answered as a child process would answer it.

A child (``python -m homelab.cli``) pays for a fresh interpreter and pyinfra's imports, over a
second, for a refusal that takes milliseconds; the child runs ``main``, so calling ``main`` here
tests the same code. What the child would write to its stdout and stderr is captured, warnings
logged with no handler set up included (Python's last-resort handler writes those to stderr),
and its exit status is ``main``'s return or argparse's exit. While it runs no socket connects,
so a refusal that regressed fails the test rather than reaching a host.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import subprocess
from collections.abc import Iterator, Mapping
from unittest import mock

from homelab import PROJECT_ROOT
from homelab.cli import main


class ConnectionAttempted(AssertionError):
    """Raised by any socket connect during an in-process command (never caught by ``main``)."""


def _refuse(self: socket.socket, address: object) -> None:
    raise ConnectionAttempted(f"homelab tried to connect to {address!r}")


@contextlib.contextmanager
def _last_resort_logging(stream: io.StringIO) -> Iterator[None]:
    """Warnings and worse on the root logger go to ``stream``, as a child would print them."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def homelab(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``homelab ARGS`` from the project's folder, ``env`` over this environment: its result."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(PROJECT_ROOT),
        mock.patch.dict(os.environ, dict(env or {})),
        mock.patch.object(socket.socket, "connect", _refuse),
        mock.patch.object(socket.socket, "connect_ex", _refuse),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        _last_resort_logging(err),
    ):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's errors, --version, -h
            if isinstance(exit_.code, str):  # sys.exit("message") prints it and exits 1
                print(exit_.code, file=err)
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return subprocess.CompletedProcess(["homelab", *args], code, out.getvalue(), err.getvalue())
