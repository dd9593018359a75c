"""Placing rendered files on a host: as they are, or only once their service accepts them."""

from __future__ import annotations

import posixpath
import shlex
import uuid
from dataclasses import dataclass
from io import StringIO
from typing import Any

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, server

from deploys.state import current, in_place
from homelab.model import HostFile


def put(f: HostFile, **kwargs: Any) -> OperationMeta | None:
    """Place one rendered file with its owner and mode; None when the host has it already."""
    if current().holds(f):
        return None
    return files.put(
        name=f"Place {f.path}",
        src=StringIO(f.content),
        dest=f.path,
        user=f.owner,
        group=f.group,
        mode=f.mode,
        **kwargs,
    )


#: A check command for a candidate file; ``{path}`` is where the candidate was placed.
Check = str


#: The longest a guard waits for the verdict of a check started early, in seconds.
EARLY_VERDICT_WAIT = 300
#: This deploy's run: an early check's files carry it, so a guard never reads a verdict left
#: by another run (an aborted one's check may still be writing its own).
RUN = uuid.uuid4().hex[:12]
#: The exit codes that are a check's verdict (accepted, refused); any other (killed, not
#: found) says nothing of the candidate, and the guard checks again itself.
VERDICTS = ("0", "1")
#: What the guard prints before an early check's output: where its verdict came from.
EARLY_MARK = "checked early, in the background:"


@dataclass(frozen=True)
class EarlyCheck:
    """A slow check started in the background before the services deploy, so it runs while
    they do; the file's guard reads its verdict.

    A verdict holds only for the very bytes the check read: the candidate, ``staged`` (files
    the deploy renders, staged as it will place them) and ``live`` (files read where they
    are). The guard compares them with what is in place by then and checks again itself when
    any differs, when the check ended without a verdict, or when none came.
    """

    file: HostFile
    staging: str
    #: Rendered files the check reads: staged as ``<name>.early`` beside the candidate.
    staged: tuple[HostFile, ...] = ()
    #: Host files the check reads as they are (a secrets file made on the host, a module the
    #: candidate names).
    live: tuple[str, ...] = ()
    #: The host's command printing ``<sha256>  <path>`` lines (the system's).
    sha256: str = "sha256sum"

    @property
    def candidate(self) -> str:
        return self.stand_in(self.file)

    def stand_in(self, f: HostFile) -> str:
        """Where a staged file (or the candidate) waits for the check."""
        return f"{self.staging}/{posixpath.basename(f.path)}.early"

    def result(self, what: str) -> str:
        """This run's ``sums``, ``pid``, ``out`` or ``rc`` file of the check."""
        return f"{self.candidate}.{RUN}.{what}"


def early_commands(early: EarlyCheck, check: Check) -> list[str]:
    """The shell lines that record what the verdict will hold for, then start ``check`` on
    the staged candidate in the background. A file that cannot be read starts no check: its
    guard checks itself."""
    q = shlex.quote
    sums, pid, out, rc = (q(early.result(w)) for w in ("sums", "pid", "out", "rc"))
    # Each file as its live path will hold it at the guard.
    hashes = [
        f"h=$({early.sha256} < {q(early.stand_in(f))}) && printf '%s  %s\\n' \"${{h%% *}}\" "
        f"{q(f.path)}"
        for f in early.staged
    ] + [f"{early.sha256} {q(path)}" for path in early.live]
    # The exit code appears whole (written aside, then moved): the guard reads it once there.
    run = f"( {check.replace('{path}', q(early.candidate))} ) > {out} 2>&1; echo $? > {rc}.part"
    run += f" && mv {rc}.part {rc}"
    return [
        f"rm -f {q(early.candidate)}.*.*",  # earlier runs' results
        f"if {{ {' && '.join(hashes) or 'false'}; }} > {sums}.part && [ -s {sums}.part ]; "
        f"then mv {sums}.part {sums}; "
        # Detached from the deploy's session: the operation returns at once.
        f"nohup sh -c {q(run)} < /dev/null > /dev/null 2>&1 & echo $! > {pid}; "
        f"else rm -f {sums}.part; fi",
    ]


def start_check(early: EarlyCheck, check: Check) -> None:
    """Stage the candidate (and the files its check reads) and start ``check`` on it in the
    background: its output and exit code go beside the candidate for the guard to read."""
    if in_place(early.file.path, early.file.content):
        return
    files.directory(name=f"Staging {early.staging}", path=early.staging, mode="0700")
    for f in (early.file, *early.staged):
        files.put(
            name=f"Candidate {f.path} (checked early)",
            src=StringIO(f.content),
            dest=early.stand_in(f),
            mode="0600",
        )
    server.shell(
        name=f"Start checking the candidate {early.file.path} (in the background)",
        commands=early_commands(early, check),
    )


def early_verdict(early: EarlyCheck, candidate: str, check: Check) -> str:
    """A shell line: this run's early verdict when it holds for what is in place now (the
    same candidate, the same files read), else ``check`` run here on ``candidate``; it fails
    when the candidate is refused."""
    q = shlex.quote
    sums, pid, out, rc = (q(early.result(w)) for w in ("sums", "pid", "out", "rc"))
    inline = check.replace("{path}", q(candidate))
    taken = " || ".join(f'[ "$(cat {rc})" = {v} ]' for v in VERDICTS)
    return (
        # Wait while the check runs (bounded): a check that died leaves no rc to wait for.
        f'i=0; while [ -f {pid} ] && [ ! -f {rc} ] && kill -0 "$(cat {pid})" 2>/dev/null '
        f"&& [ $i -lt {EARLY_VERDICT_WAIT * 10} ]; do sleep 0.1; i=$((i+1)); done; "
        f"if [ -f {rc} ] && {{ {taken}; }} && cmp -s {q(early.candidate)} {q(candidate)} "
        f"&& {early.sha256} -c --status --strict {sums}; "
        f'then echo {q(EARLY_MARK)} >&2; cat {out} >&2; [ "$(cat {rc})" = 0 ]; '
        f"else {inline}; fi"
    )


def guarded_put(
    f: HostFile, check: Check, staging: str, early: EarlyCheck | None = None
) -> OperationMeta | None:
    """Replace a live file only with a candidate its service accepts.

    When the live file differs from the rendered one, the candidate goes to ``staging``, the
    check runs on it (or its ``early`` verdict is read, when it holds for the same files),
    and only then is it installed in place. A refused candidate stops the host's deploy
    there: the live file, and the service running on it, stay as they were. Returns None
    when the live file is already the rendered one (nothing to check, no op).
    """
    if in_place(f.path, f.content):
        return None
    q = shlex.quote
    candidate = f"{staging}/{posixpath.basename(f.path)}"
    files.directory(name=f"Staging {staging}", path=staging, mode="0700")
    files.put(name=f"Candidate {f.path}", src=StringIO(f.content), dest=candidate, mode="0600")
    verdict = (
        check.replace("{path}", q(candidate))
        if early is None
        else f"{{ {early_verdict(early, candidate, check)}; }}"
    )
    leftovers = [candidate]
    if early is not None:
        leftovers += [early.candidate, *(early.result(w) for w in ("sums", "pid", "out", "rc"))]
        leftovers += [early.stand_in(s) for s in early.staged]
    clean = " ".join(q(p) for p in leftovers)
    return server.shell(
        name=f"Check the candidate {f.path}, then put it in place",
        commands=[
            f"{verdict} "
            f"|| {{ echo 'refused: {f.path} stays as it was' >&2; rm -f {clean}; exit 1; }}",
            f"mkdir -p {q(posixpath.dirname(f.path))}",
            f"install -o {q(f.owner)} -g {q(f.group)} -m {f.mode} {q(candidate)} {q(f.path)}",
            f"rm -f {clean}",
        ],
    )


def stage_beside(neighbours: list[HostFile], staging: str) -> None:
    """Candidates ``neighbours`` in ``staging``, for a check that loads them with another."""
    files.directory(name=f"Staging {staging}", path=staging, mode="0700")
    for f in neighbours:
        files.put(
            name=f"Candidate {f.path} (beside the unit it goes with)",
            src=StringIO(f.content),
            dest=f"{staging}/{posixpath.basename(f.path)}",
            mode="0600",
        )
