"""Open WebUI's serve.py: upstream's ``serve`` run unchanged, its uvicorn taking the socket
systemd passes in (and binding as upstream does when none is passed).

Run as systemd runs it, through systemd's own ``systemd-socket-activate``, with stand-ins for
``open_webui`` (its ``serve`` calls ``uvicorn.run`` as upstream's does) and for ``uvicorn``
(its ``run`` reports what it was given and what fd 3 is).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from homelab.services.open_webui import SERVE

OPEN_WEBUI = """
import uvicorn


def serve(host="0.0.0.0", port=8080):
    uvicorn.run("open_webui.main:app", host=host, port=port, forwarded_allow_ips="*", workers=1)
"""

UVICORN = """
import json
import os
import socket


def run(app, **options):
    fd = options.get("fd")
    bound = list(socket.socket(fileno=fd).getsockname()) if fd is not None else None
    listen = {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")}
    print(json.dumps({"app": app, "options": options, "bound": bound, "listen_env": listen}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(tmp_path: Path, activated: bool) -> dict[str, Any]:
    """serve.py's report; ``activated``: started by systemd-socket-activate on a free port,
    which starts it at the first connection."""
    (tmp_path / "open_webui").mkdir(exist_ok=True)
    (tmp_path / "open_webui" / "__init__.py").write_text(OPEN_WEBUI)
    (tmp_path / "uvicorn.py").write_text(UVICORN)
    port = free_port()
    # It passes the program no variable it is not told to.
    tool = ("systemd-socket-activate", "--listen", f"127.0.0.1:{port}", "--setenv=PYTHONPATH")
    prefix = tool if activated else ()
    with subprocess.Popen(
        [*prefix, sys.executable, str(SERVE), "--host", "0.0.0.0", "--port", "3000"],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        if activated:
            connect(port)
        out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    report["port"] = port
    return report


def connect(port: int) -> None:
    """One connection, once the tool listens: it starts the program then."""
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="needs systemd's tool")
def test_it_serves_on_the_socket_systemd_passes(tmp_path: Path) -> None:
    report = run(tmp_path, activated=True)
    assert report["options"].get("fd") == 3, f"expected uvicorn.run(fd=3), got {report['options']}"
    assert report["bound"] == ["127.0.0.1", report["port"]], "fd 3 is systemd's listening socket"


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="needs systemd's tool")
def test_on_the_passed_socket_it_binds_no_address_of_its_own(tmp_path: Path) -> None:
    report = run(tmp_path, activated=True)
    assert not {"host", "port"} & set(report["options"]), report["options"]


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="needs systemd's tool")
def test_its_workers_do_not_take_the_socket_as_theirs_again(tmp_path: Path) -> None:
    report = run(tmp_path, activated=True)
    assert report["listen_env"] == {}, report["listen_env"]


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="needs systemd's tool")
def test_upstream_serve_keeps_its_other_options(tmp_path: Path) -> None:
    report = run(tmp_path, activated=True)
    assert report["app"] == "open_webui.main:app"
    assert report["options"]["forwarded_allow_ips"] == "*"


def test_with_no_socket_passed_it_binds_as_upstream_does(tmp_path: Path) -> None:
    report = run(tmp_path, activated=False)
    assert (report["options"].get("host"), report["options"].get("port")) == ("0.0.0.0", 3000)
    assert "fd" not in report["options"], report["options"]
