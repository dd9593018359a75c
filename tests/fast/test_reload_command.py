"""The gateway's ``systemctl reload`` command, run for real against a small pre-forking master.

The master does what gunicorn does on SIGHUP: it forks new workers, then asks the old ones to
stop; an old worker takes a moment to finish its requests. The command (as systemd would run
it: ``${MAINPID}`` filled in, ``$$`` made ``$``) must return only once the old workers are gone,
with the new ones running, so what answers after a reload runs the new config.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.render.units import RELOAD_WAIT_S, reload_command

#: A helper child that never leaves (as LiteLLM's reaper), and two workers; on SIGHUP two new
#: workers, then SIGTERM to the old ones, which take 0.6 s to leave.
MASTER = """
import signal, subprocess, sys, time
WORKER = ["sh", "-c", "trap 'sleep 0.6; exit 0' TERM; while :; do sleep 0.05; done"]
helper = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"])
workers = [subprocess.Popen(WORKER) for _ in range(2)]
leaving = []
def hup(*_):
    global workers
    old, workers = workers, [subprocess.Popen(WORKER) for _ in range(2)]
    for w in old:
        w.terminate()
        leaving.append(w)
signal.signal(signal.SIGHUP, hup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(helper.pid, " ".join(str(w.pid) for w in workers), flush=True)
while True:
    for w in list(leaving):
        if w.poll() is not None:  # reaped: its /proc entry goes
            leaving.remove(w)
    time.sleep(0.02)
"""


def as_systemd_runs_it(command: str, main_pid: int) -> list[str]:
    assert command.startswith("+/"), "runs outside the sandbox, where it can see the workers"
    expanded = command.removeprefix("+").replace("${MAINPID}", str(main_pid))
    return shlex.split(expanded.replace("$$", "$"))


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


@pytest.fixture
def master() -> Iterator[subprocess.Popen[str]]:
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs Linux's /proc")
    proc = subprocess.Popen([sys.executable, "-c", MASTER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # its helper and workers are up
    yield proc
    for pid in children(proc.pid):
        subprocess.run(["kill", "-9", str(pid)], check=False)
    proc.terminate()
    proc.wait(timeout=10)


def test_reload_returns_once_the_old_workers_are_gone(master: subprocess.Popen[str]) -> None:
    old = children(master.pid)
    began = time.monotonic()
    command = as_systemd_runs_it(reload_command(2), master.pid)
    subprocess.run(command, check=True, timeout=RELOAD_WAIT_S + 10)
    took = time.monotonic() - began
    now = children(master.pid)
    assert len(old & now) == 1, f"only the helper of {sorted(old)} stays; found {sorted(now)}"
    assert len(now) == 3, f"expected the helper and two new workers, found {sorted(now)}"
    assert took >= 0.5, f"returned after {took:.2f} s, before the old workers finished (0.6 s)"
    assert took < RELOAD_WAIT_S, f"waited {took:.1f} s: for the helper, which never leaves"


#: Stand-ins for gunicorn's arbiter and sd_notify, uvicorn's server and LiteLLM's CLI (none is
#: installed here). The CLI makes an arbiter, which boots (and says so to systemd), the env
#: files change, SIGHUP's reload runs and prints what it saw; then a worker's server is told to
#: stop and prints what it did, in order; last a worker starts (and says it is ready).
FAKES = {
    "gunicorn/__init__.py": "",
    "gunicorn/systemd.py": """
def sd_notify(state, logger, unset_environment=False):
    print("notify", state.replace("\\n", " "))
""",
    "gunicorn/arbiter.py": """
from gunicorn import systemd
class Arbiter:
    def start(self):  # as gunicorn's: booted, before any worker serves
        systemd.sd_notify("STATUS=booting", None)
        systemd.sd_notify("READY=1\\nSTATUS=Gunicorn arbiter booted", None)
    def reload(self):
        import os
        print(os.environ.get("OV_A_API_BASE"), os.environ.get("NEW_ROUTE"), os.environ["KEY"])
""",
    "uvicorn/__init__.py": "",
    "uvicorn/server.py": """
import time
class Listening:
    def close(self):
        print("closed", round(time.monotonic(), 2))
class Server:
    servers = [Listening()]
    started = False
    async def startup(self, sockets=None):
        self.started = True
    async def shutdown(self, sockets=None):
        print("shut", round(time.monotonic(), 2))
""",
    "litellm_cli/__init__.py": "",
    "litellm_cli/main.py": """
import asyncio, sys
from pathlib import Path
import gunicorn.arbiter, uvicorn.server
def proxy_server():
    assert sys.argv == ["litellm", "--config", "router.yaml", "--run_gunicorn"], sys.argv
    Path("env").write_text("# routes\\nOV_A_API_BASE=http://127.0.0.1:9001/v1\\nNEW_ROUTE=x\\n")
    Path("secrets.env").write_text("KEY=rotated\\n")
    arbiter = gunicorn.arbiter.Arbiter()
    arbiter.start()
    arbiter.reload()
    asyncio.run(uvicorn.server.Server().shutdown())
    asyncio.run(uvicorn.server.Server().startup())
    return 0
""",
}


@pytest.fixture
def served(tmp_path: Path) -> list[str]:
    """What the gateway's serve.py does on a reload and a stop, run with the stand-ins."""
    from homelab.services.litellm import SERVE

    for name, text in FAKES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "env").write_text("OV_A_API_BASE=http://127.0.0.1:9000/v1\n")
    (tmp_path / "secrets.env").write_text("KEY=old\n")
    argv = ["--env-file", "env", "--env-file", "secrets.env", "--", "--config", "router.yaml"]
    result = subprocess.run(
        [sys.executable, str(SERVE), *argv, "--run_gunicorn"],
        cwd=tmp_path,
        # As systemd starts it: the files' values already in its environment.
        env={
            "PYTHONPATH": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "OV_A_API_BASE": "http://127.0.0.1:9000/v1",
            "KEY": "old",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_reload_reads_the_env_files_again(served: list[str]) -> None:
    assert served[1].split() == ["http://127.0.0.1:9001/v1", "x", "rotated"], served


def test_the_master_says_its_status_but_not_ready(served: list[str]) -> None:
    assert served[0] == "notify STATUS=booting", served


def test_a_worker_that_has_started_says_ready(served: list[str]) -> None:
    said = served[-1].split()
    assert said[:3] == ["notify", "READY=1", "STATUS=worker"], f"expected READY=1, found {said}"
    assert [line for line in served if "READY=1" in line] == [served[-1]], (
        f"only the worker says READY=1: {served}"
    )


def test_a_stopping_worker_stops_accepting_then_waits_before_closing(
    served: list[str],
) -> None:
    from homelab.services.litellm import SERVE

    closed, shut = (float(line.split()[1]) for line in served[2:4])
    assert [line.split()[0] for line in served[2:4]] == ["closed", "shut"], served
    settle = float(SERVE.read_text().split("SETTLE_S = ")[1].split()[0])
    assert shut - closed >= settle - 0.02, f"closed idle connections {shut - closed:.2f} s after"


def test_an_env_file_it_cannot_read_stops_it_at_start(tmp_path: Path) -> None:
    """dotenv reads a file it cannot open as empty: the gateway would reload on old values."""
    from homelab.services.litellm import SERVE

    for name, text in FAKES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    missing = tmp_path / "nowhere" / "secrets.env"
    result = subprocess.run(
        [sys.executable, str(SERVE), "--env-file", str(missing), "--", "--config", "x.yaml"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0, "started without its env file"
    assert str(missing) in result.stderr, result.stderr[-500:]
