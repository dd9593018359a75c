"""``python -m pyinfra ARGS`` for the fast tests, forked from an interpreter that has imported it.

A fresh ``python -m pyinfra`` spends about a second importing pyinfra's CLI (gevent, click,
paramiko, every operation and fact module) before it reads its arguments; the fast tests start
some twenty of them. Here one server process per test process (``python -m
tests.fast.forkrun``, from the project's folder) imports exactly what ``python -m pyinfra``
imports first, ``pyinfra_cli.main``, which patches the standard library with gevent as usual,
and forks a child per run. The child takes the run's folder, environment, ``sys.path[0]``
and standard streams (stdin from /dev/null), then runs the ``pyinfra`` module as ``__main__``
with the run's arguments, as the interpreter would: inventory, group data and deploy are loaded
in the child only, every time. No gevent hub exists before the fork (the child reinitialises
gevent all the same).

Protocol, one JSON line each way: ``{"args", "cwd", "env", "out", "err", "status"}`` starts a
run (its output goes to the files ``out`` and ``err``, which may be one; its exit status is
written to ``status`` last) and is answered ``{"pid": N}``; ``{"kill": N}`` kills a run still
going and is answered ``{"killed": bool}``. This module imports only the standard library at
its top: the server must import nothing of the project before it forks.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# --- the server (in its own process) ---------------------------------------------------------


def _exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` ends an interpreter with (a message is printed, as there)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _child(request: dict[str, Any]) -> NoReturn:
    import runpy

    import gevent

    status = 1
    try:
        gevent.reinit()  # what gevent's own fork does in a child (no hub exists yet)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        out = os.open(request["out"], flags, 0o600)
        err = out if request["err"] == request["out"] else os.open(request["err"], flags, 0o600)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]  # as ``python -m`` puts the current folder first
        sys.argv = ["pyinfra", *request["args"]]  # argv[0] becomes pyinfra/__main__.py
        try:
            runpy.run_module("pyinfra", run_name="__main__", alter_sys=True)
            status = 0
        except SystemExit as exit_:
            status = _exit_status(exit_.code)
        except BaseException:  # an uncaught error: the traceback, status 1, as the interpreter
            traceback.print_exc()
            status = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed stream: nothing left to write
                stream.flush()
        done = f"{request['status']}.tmp"
        with open(done, "w") as file:
            file.write(str(status))
        os.rename(done, request["status"])  # the client reads the status only once it is whole
        os._exit(status)


def serve() -> None:
    """Read requests on stdin until it closes; answer on stdout."""
    import pyinfra_cli.main  # noqa: F401  (what ``python -m pyinfra`` imports before main())
    from gevent import monkey

    # gevent's patched fork would start a hub and a child watcher here; the plain one starts
    # nothing, and the plain waitpid reaps what the unrun hub never would.
    fork = monkey.get_original("os", "fork")
    waitpid = monkey.get_original("os", "waitpid")
    answers = sys.stdout
    running: set[int] = set()

    def reap(block: bool) -> None:
        while running:
            try:
                pid, _ = waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:  # none left to reap
                running.clear()
                return
            if pid == 0:
                return
            running.discard(pid)

    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, object]
        if "kill" in request:
            reap(block=False)
            pid = int(request["kill"])
            if pid in running:  # never a pid this server did not fork, nor one reaped
                os.kill(pid, signal.SIGKILL)
            answer = {"killed": pid in running}
        else:
            pid = fork()
            if pid == 0:
                _child(request)
            running.add(pid)
            answer = {"pid": pid}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
        reap(block=False)
    reap(block=True)


# --- the client (in the test process) --------------------------------------------------------


class Server:
    """The forking server of this test process, started at its first run."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="homelab-pyinfra-runs-"))
        self.runs = 0
        with (self.folder / "server.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.fast.forkrun"],
                cwd=PROJECT_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )

    def ask(self, request: Mapping[str, object]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            log = (self.folder / "server.log").read_text(errors="replace")
            raise RuntimeError(f"the pyinfra fork server is gone:\n{log[-3000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        """The server ends once its runs have; a run that hangs does not hang the tests' exit."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_server: Server | None = None


def _the_server() -> Server:
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = Server()
        atexit.register(_server.close)
    return _server


class Run:
    """One forked ``pyinfra`` run, used as a ``subprocess.Popen`` of it would be."""

    def __init__(
        self, args: Sequence[str], cwd: Path, env: Mapping[str, str], *, combined: bool
    ) -> None:
        self.server = _the_server()
        self.server.runs += 1
        name = self.server.folder / f"run-{self.server.runs}"
        self.out, self.status = Path(f"{name}.out"), Path(f"{name}.status")
        self.err = self.out if combined else Path(f"{name}.err")
        self.args = ["pyinfra", *args]
        self.returncode: int | None = None
        request = {
            "args": list(args),
            "cwd": str(cwd),
            "env": dict(env),
            "out": str(self.out),
            "err": str(self.err),
            "status": str(self.status),
        }
        self.pid = int(self.server.ask(request)["pid"])

    def poll(self) -> int | None:
        if self.returncode is None and self.status.exists():
            self.returncode = int(self.status.read_text())
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            killed = self.server.ask({"kill": self.pid})["killed"]
            if self.poll() is None and killed:  # gone without a status: as Popen says it
                self.returncode = -signal.SIGKILL

    def communicate(self, timeout: float | None = None) -> tuple[str, str | None]:
        """Its stdout (with stderr when combined) and its stderr (None when combined)."""
        self.wait(timeout)
        out = self.out.read_text(errors="replace")
        return out, None if self.err == self.out else self.err.read_text(errors="replace")


def start(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, *, combined: bool = False
) -> Run:
    """``python -m pyinfra ARGS`` started in ``cwd`` (``env``: this environment by default);
    ``combined``: its stderr goes where its stdout goes, as ``stderr=subprocess.STDOUT``."""
    return Run(args, cwd, os.environ if env is None else env, combined=combined)


def run(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, *, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run([python, -m, pyinfra, *ARGS], capture_output=True, text=True)``."""
    process = start(args, cwd, env)
    try:
        out, err = process.communicate(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return subprocess.CompletedProcess(process.args, process.wait(), out, err or "")


if __name__ == "__main__":
    serve()
