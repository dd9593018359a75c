"""Copy models' weights from backroom storage to showroom storage, checked against the source.

Run on the host by the deploy (``deploys/weights.py``) with the host's own Python (standard
library only): ``copy_weights.py JSON``, a list of jobs (model, source, dest, mark, owner). Each
source (an MLX folder or a GGUF file) is copied beside its destination (``<dest>.partial``),
every file's size and sha256 compared with the source's, and only then moved into place and
its mark written; a progress line every few seconds. ``--list PATH...`` prints each path's
files and sizes as JSON (the plan-time check). Exit 1 naming each model that failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

EVERY = 3.0


def files_of(root: Path) -> dict[str, int]:
    """Relative path -> size of every file under ``root`` (or ``root`` itself, a file)."""
    if root.is_file():
        return {"": root.stat().st_size}
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def differences(source: Path, copy: Path) -> list[str]:
    theirs, ours = files_of(source), files_of(copy)
    problems = [f"{name or source.name}: missing" for name in theirs if name not in ours]
    for name, size in theirs.items():
        if name not in ours:
            continue
        if ours[name] != size:
            problems.append(f"{name or source.name}: {ours[name]} bytes, the source {size}")
        elif sha256(source / name if name else source) != sha256(copy / name if name else copy):
            problems.append(f"{name or source.name}: sha256 differs from the source's")
    return problems


def kept_aside(dest: Path) -> Path:
    """A free name beside ``dest`` for what was there: a copy never deletes weights."""
    aside = dest.with_name(f"{dest.name}.before-copy")
    n = 1
    while aside.exists() or aside.is_symlink():
        n += 1
        aside = dest.with_name(f"{dest.name}.before-copy-{n}")
    return aside


def copy(job: dict[str, Any]) -> str | None:
    source, dest = Path(job["source"]), Path(job["dest"])
    if dest.exists() and not differences(source, dest):
        # Already the source's files (put there by hand): marked, not copied again.
        Path(job["mark"]).write_text(json.dumps({"source": str(source), "files": files_of(dest)}))
        return None
    partial = dest.with_name(dest.name + ".partial")
    if partial.is_dir():
        shutil.rmtree(partial)
    elif partial.exists():
        partial.unlink()
    partial.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, partial)
    else:
        shutil.copy2(source, partial)
    problems = differences(source, partial)
    if problems:
        return "; ".join(problems)
    if dest.exists() or dest.is_symlink():
        # Other files where the copy goes: kept beside it, never deleted.
        aside = kept_aside(dest)
        dest.rename(aside)
        print(f"{job['model']}: the files at {dest} differ from {source}: kept at {aside}")
    partial.rename(dest)
    owner = job["owner"]
    for path in [dest, *(dest.rglob("*") if dest.is_dir() else ())]:
        shutil.chown(path, owner["user"], owner["group"])
    Path(job["mark"]).write_text(json.dumps({"source": str(source), "files": files_of(dest)}))
    return None


def report(jobs: list[dict[str, Any]], done: threading.Event, start: float) -> None:
    while not done.wait(EVERY):
        elapsed = time.monotonic() - start
        for job in jobs:
            partial = Path(job["dest"] + ".partial")
            total = sum(files_of(Path(job["source"])).values())
            have = sum(files_of(partial).values()) if partial.exists() else 0
            rate = have / elapsed if elapsed else 0.0
            left = (total - have) / rate if rate else float("inf")
            print(
                f"{job['model']}: {have / 2**20:.1f} of {total / 2**20:.1f} MB, "
                f"{rate / 2**20:.1f} MB/s, {left:.0f} s left",
                flush=True,
            )


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--list"]:
        out = {p: files_of(Path(p)) if os.path.exists(p) else None for p in argv[2:]}
        print(json.dumps(out))
        return 0
    jobs: list[dict[str, Any]] = json.loads(argv[1])
    done, start = threading.Event(), time.monotonic()
    threading.Thread(target=report, args=(jobs, done, start), daemon=True).start()
    failed = 0
    for job in jobs:
        try:
            why = copy(job)
        except OSError as exc:
            why = f"{type(exc).__name__}: {exc}"
        if why is None:
            print(f"{job['model']}: copied from {job['source']}, checked")
        else:
            failed += 1
            print(f"{job['model']}: not copied from {job['source']}: {why}", file=sys.stderr)
    done.set()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
