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

from homelab.render.units import RELOAD_COMMAND

#: Two workers; on SIGHUP two new ones, then SIGTERM to the old ones, which take 0.6 s to leave.
MASTER = """
import signal, subprocess, sys, time
WORKER = ["sh", "-c", "trap 'sleep 0.6; exit 0' TERM; while :; do sleep 0.05; done"]
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
print(" ".join(str(w.pid) for w in workers), flush=True)
while True:
    for w in list(leaving):
        if w.poll() is not None:  # reaped: its /proc entry goes
            leaving.remove(w)
    time.sleep(0.02)
"""


def as_systemd_runs_it(command: str, main_pid: int) -> list[str]:
    return shlex.split(command.replace("${MAINPID}", str(main_pid)).replace("$$", "$"))


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


@pytest.fixture
def master() -> Iterator[subprocess.Popen[str]]:
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs Linux's /proc")
    proc = subprocess.Popen([sys.executable, "-c", MASTER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # its workers are up
    yield proc
    for pid in children(proc.pid):
        subprocess.run(["kill", str(pid)], check=False)
    proc.terminate()
    proc.wait(timeout=10)


def test_reload_returns_once_the_old_workers_are_gone(master: subprocess.Popen[str]) -> None:
    old = children(master.pid)
    began = time.monotonic()
    subprocess.run(as_systemd_runs_it(RELOAD_COMMAND, master.pid), check=True, timeout=40)
    took = time.monotonic() - began
    now = children(master.pid)
    assert not old & now, f"old workers {sorted(old & now)} still there after the reload"
    assert len(now) == 2, f"expected the two new workers, found {sorted(now)}"
    assert took >= 0.5, f"returned after {took:.2f} s, before the old workers finished (0.6 s)"


#: Stand-ins for gunicorn's arbiter and LiteLLM's CLI (neither is installed here): the CLI makes
#: an arbiter, the env file changes, SIGHUP's reload runs; what the reload saw is printed.
FAKE_ARBITER = """
class Arbiter:
    def reload(self):
        import os
        print(os.environ.get("OV_A_API_BASE"), os.environ.get("NEW_ROUTE"), os.environ["KEY"])
"""
FAKE_CLI = """
import sys
from pathlib import Path
import gunicorn.arbiter
def proxy_server():
    env, secrets = Path(sys.argv[-2]), Path(sys.argv[-1])
    env.write_text("# routes\\nOV_A_API_BASE=http://127.0.0.1:9001/v1\\nNEW_ROUTE=x\\n")
    secrets.write_text("KEY=rotated\\n")
    assert sys.argv[0] == "litellm", sys.argv
    gunicorn.arbiter.Arbiter().reload()
    return 0
"""


def test_the_gateway_reads_its_env_files_again_on_reload(tmp_path: Path) -> None:
    from homelab.services.litellm import reloading_env

    for name, text in {
        "gunicorn/__init__.py": "",
        "gunicorn/arbiter.py": FAKE_ARBITER,
        "litellm_cli/__init__.py": "",
        "litellm_cli/main.py": FAKE_CLI,
    }.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    env, secrets = tmp_path / "env", tmp_path / "secrets.env"
    env.write_text("OV_A_API_BASE=http://127.0.0.1:9000/v1\n")
    secrets.write_text("KEY=old\n")
    # As systemd starts it: the files' values already in its environment.
    started = {"PYTHONPATH": str(tmp_path), "OV_A_API_BASE": "http://127.0.0.1:9000/v1"}
    out = subprocess.run(
        [sys.executable, "-c", reloading_env(str(env), str(secrets)), str(env), str(secrets)],
        env={**started, "KEY": "old", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["http://127.0.0.1:9001/v1", "x", "rotated"], f"the reload saw {out}"
