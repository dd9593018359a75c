"""Open WebUI's server, started as its ``open-webui serve`` starts it, on the socket systemd holds.

Usage: ``python serve.py --host BIND --port PORT``

``open-webui serve`` binds its own port, so each restart refused connections for as long as it
took to start (about 12 s on two cores). Under socket activation systemd holds the listening
socket and passes it in (``LISTEN_FDS``, fd 3): connections that arrive during a restart wait
in the socket's queue for the new process. Upstream's ``serve`` is run unchanged (its secret
key and environment handling); only its call to ``uvicorn.run`` takes the passed socket instead
of binding. With no socket passed (an init that holds none), it binds as upstream does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn

#: The first file descriptor systemd passes (sd_listen_fds(3)).
SD_LISTEN_FDS_START = 3


def passed_socket() -> int | None:
    """The listening socket systemd passed to this process, if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    if int(os.environ.get("LISTEN_FDS", "0")) < 1:
        return None
    return SD_LISTEN_FDS_START


def on_socket(run: Callable[..., Any], fd: int) -> Callable[..., Any]:
    def run_on_socket(app: Any, **options: Any) -> Any:
        options.pop("host", None)
        options.pop("port", None)
        return run(app, fd=fd, **options)

    return run_on_socket


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    fd = passed_socket()
    if fd is not None:
        uvicorn.run = on_socket(uvicorn.run, fd)
        # Its workers (UVICORN_WORKERS > 1) must not take these as theirs again.
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)
    from open_webui import serve

    serve(host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
