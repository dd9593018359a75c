"""A slow check started early (``deploys.files``): its shell lines run for real in a folder, a
check that records each run standing in for LiteLLM's. The guard takes the early verdict only
for the very files it read, and checks again itself when any of them changed since, when the
check ended without a verdict, or when the results are another run's."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from deploys.files import EARLY_MARK, EarlyCheck, early_commands, early_verdict
from homelab.model import HostFile

#: How long the stand-in check takes: the start must return well before it ends.
CHECK_SECONDS = 0.2


@pytest.fixture
def early(tmp_path: Path) -> EarlyCheck:
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "secrets.env").write_text("KEY=1\n")
    env = HostFile(path=str(tmp_path / "live" / "env"), content="BASE=a\n")
    Path(env.path).write_text("BASE=old\n")  # the deploy places the new one later
    return EarlyCheck(
        file=HostFile(path=str(tmp_path / "live" / "router.yaml"), content="models: [a]\n"),
        staging=str(tmp_path / "staging"),
        staged=(env,),
        live=(str(tmp_path / "live" / "secrets.env"),),
    )


def check_command(tmp_path: Path, exit_code: int = 0) -> str:
    """A check that records its run (what it read) and exits with ``exit_code``."""
    runs = tmp_path / "runs"
    return f"{{ echo {{path}} >> {runs}; sleep {CHECK_SECONDS}; exit {exit_code}; }}"


def sh(line: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=60)


def stage_and_start(early: EarlyCheck, check: str) -> None:
    Path(early.staging).mkdir()
    Path(early.candidate).write_text(early.file.content)
    for f in early.staged:
        Path(early.stand_in(f)).write_text(f.content)
    started = time.monotonic()
    for line in early_commands(early, check):
        assert sh(line).returncode == 0, line
    took = time.monotonic() - started
    assert took < CHECK_SECONDS * 0.8, f"expected the start to return at once, it took {took}"


def guard(
    early: EarlyCheck, tmp_path: Path, inline_exit: int = 0
) -> subprocess.CompletedProcess[str]:
    """The guard as the deploy runs it, once the staged files are placed."""
    candidate = f"{early.staging}/router.yaml"
    Path(candidate).write_text(early.file.content)
    return sh(early_verdict(early, candidate, check_command(tmp_path, inline_exit)))


def runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "runs"
    return path.read_text().split() if path.exists() else []


def place(early: EarlyCheck) -> None:
    for f in early.staged:
        Path(f.path).write_text(f.content)


def test_an_early_verdict_for_the_files_in_place_is_taken(
    tmp_path: Path, early: EarlyCheck
) -> None:
    stage_and_start(early, check_command(tmp_path))
    place(early)
    result = guard(early, tmp_path)
    assert result.returncode == 0, f"expected the early acceptance to pass: {result.stderr}"
    assert EARLY_MARK in result.stderr, f"expected the early verdict named: {result.stderr!r}"
    assert runs(tmp_path) == [early.candidate], "expected one check, the early one"


def test_an_early_refusal_refuses(tmp_path: Path, early: EarlyCheck) -> None:
    stage_and_start(early, check_command(tmp_path, exit_code=1))
    place(early)
    assert guard(early, tmp_path).returncode != 0, "expected the early refusal to stop the guard"
    assert len(runs(tmp_path)) == 1, f"expected no second check, found {runs(tmp_path)}"


def test_a_file_read_that_changed_since_is_checked_again(tmp_path: Path, early: EarlyCheck) -> None:
    stage_and_start(early, check_command(tmp_path))
    place(early)
    Path(early.live[0]).write_text("KEY=2\n")  # a secret rotated after the early check read it
    assert guard(early, tmp_path, inline_exit=1).returncode != 0, (
        "expected the guard to check again (and take that refusal)"
    )
    assert runs(tmp_path) == [early.candidate, f"{early.staging}/router.yaml"]


def test_a_staged_file_not_placed_as_staged_is_checked_again(
    tmp_path: Path, early: EarlyCheck
) -> None:
    stage_and_start(early, check_command(tmp_path))
    # The env file is never placed: the live one is not what the early check read.
    assert guard(early, tmp_path).returncode == 0
    assert len(runs(tmp_path)) == 2, f"expected the guard's own check, found {runs(tmp_path)}"


def test_a_check_killed_is_no_verdict(tmp_path: Path, early: EarlyCheck) -> None:
    """An exit code that is neither acceptance nor refusal (137: killed, out of memory)."""
    stage_and_start(early, check_command(tmp_path, exit_code=137))
    place(early)
    result = guard(early, tmp_path)
    assert result.returncode == 0, f"expected the guard's own check to accept: {result.stderr}"
    assert len(runs(tmp_path)) == 2, f"expected the guard to check again, found {runs(tmp_path)}"


def test_a_file_it_cannot_read_starts_no_check(tmp_path: Path, early: EarlyCheck) -> None:
    Path(early.live[0]).unlink()  # the secrets file is not there yet
    stage_and_start(early, check_command(tmp_path))
    time.sleep(CHECK_SECONDS / 2)
    assert runs(tmp_path) == [], "expected no early check without all it reads"
    place(early)
    assert guard(early, tmp_path).returncode == 0
    assert runs(tmp_path) == [f"{early.staging}/router.yaml"], "expected the guard's check"


def test_another_runs_verdict_is_not_read(tmp_path: Path, early: EarlyCheck) -> None:
    """Results left by an earlier deploy (its check may still be running) are not this one's."""
    Path(early.staging).mkdir()
    Path(early.candidate).write_text(early.file.content)
    for what, text in (("sums", ""), ("rc", "0\n"), ("out", "ok\n")):
        Path(f"{early.candidate}.0123456789ab.{what}").write_text(text)
    place(early)
    result = guard(early, tmp_path, inline_exit=1)
    assert result.returncode != 0, "expected the guard's own check (refusing), not the old rc"
    assert EARLY_MARK not in result.stderr


def test_without_an_early_check_the_guard_checks_itself(tmp_path: Path, early: EarlyCheck) -> None:
    Path(early.staging).mkdir()
    assert guard(early, tmp_path).returncode == 0
    assert runs(tmp_path) == [f"{early.staging}/router.yaml"]
