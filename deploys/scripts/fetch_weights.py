"""Fetch models' files from the Hugging Face hub (or its mirror) into the hub cache.

Run on the host by the deploy (``deploys/weights.py``), in a venv holding ``huggingface_hub``:
``fetch_weights.py JSON``, a list of jobs (model, repo, revision, allow patterns, endpoint,
cache_dir, mark, token_file). Every model at once, one thread each; a progress line every few
seconds (bytes, rate, time left). ``snapshot_download`` resumes an interrupted download from
its ``.incomplete`` file. Afterwards every file is checked against the hub's metadata: its
size, and its hash (an LFS file's sha256, a small file's git blob sha1); only then is the
model's mark written. A file that differs is removed (link and blob), so the next run fetches
it again. Exit 1 naming each model that failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # our own lines, not tqdm's
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.hf_api import RepoFile

#: Seconds between progress lines.
EVERY = 3.0


def expected(api: HfApi, job: dict[str, Any]) -> list[RepoFile]:
    info = api.model_info(job["repo"], revision=job["revision"])
    names = [
        s.rfilename
        for s in info.siblings or ()
        if any(fnmatch(s.rfilename, p) for p in job["allow"])
    ]
    found = api.get_paths_info(job["repo"], names, revision=job["revision"])
    return [f for f in found if isinstance(f, RepoFile)]


def on_disk(folder: Path) -> int:
    """Bytes under the repository's cache folder (blobs and .incomplete files)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def problem(path: Path, f: RepoFile) -> str | None:
    """How the file at ``path`` differs from the hub's metadata, or None."""
    if not path.is_file():
        return f"{f.path}: missing"
    if path.stat().st_size != f.size:
        return f"{f.path}: {path.stat().st_size} bytes, the hub says {f.size}"
    if f.lfs is not None:
        if sha256(path) != f.lfs.sha256:
            return f"{f.path}: sha256 differs from the hub's"
    elif f.blob_id and git_blob_sha1(path) != f.blob_id:
        return f"{f.path}: git blob sha1 differs from the hub's"
    return None


def check(snapshot: Path, files: list[RepoFile]) -> list[str]:
    """Each file's size and hash against the hub's metadata; the differences found.

    A file that differs is removed (its snapshot link and the blob it points to): left in
    place, the next deploy's download would find it present and fail the same way forever."""
    problems = []
    for f in files:
        path = snapshot / f.path
        why = problem(path, f)
        if why is None:
            continue
        problems.append(why)
        if path.exists() or path.is_symlink():
            blob = path.resolve()
            path.unlink()
            if blob != path and blob.is_file():
                blob.unlink()
    return problems


def fetch(job: dict[str, Any], progress: dict[str, tuple[Path, int]]) -> str | None:
    """One model; None when it arrived whole, else why not."""
    token = Path(job["token_file"]).read_text().strip() if job.get("token_file") else False
    api = HfApi(endpoint=job["endpoint"], token=token)
    files = expected(api, job)
    folder = Path(job["cache_dir"]) / ("models--" + job["repo"].replace("/", "--"))
    progress[job["model"]] = (folder, sum(f.size for f in files))
    snapshot = snapshot_download(
        job["repo"],
        revision=job["revision"],
        allow_patterns=job["allow"],
        cache_dir=job["cache_dir"],
        endpoint=job["endpoint"],
        token=token,
        max_workers=4,
    )
    problems = check(Path(snapshot), files)
    if problems:
        return "; ".join(problems)
    mark = Path(job["mark"])
    record = {f.path: f.size for f in files}
    mark.write_text(json.dumps({"revision": job["revision"], "files": record}, indent=1))
    return None


def report(progress: dict[str, tuple[Path, int]], start: float, done: threading.Event) -> None:
    """A line per model every few seconds: bytes so far, rate, time left."""
    while not done.wait(EVERY):
        elapsed = time.monotonic() - start
        for model, (folder, total) in sorted(progress.items()):
            have = on_disk(folder) if folder.exists() else 0
            rate = have / elapsed if elapsed > 0 else 0.0
            left = (total - have) / rate if rate > 0 else float("inf")
            print(
                f"{model}: {have / 2**20:.1f} of {total / 2**20:.1f} MB, "
                f"{rate / 2**20:.1f} MB/s, {left:.0f} s left",
                flush=True,
            )


def main(argv: list[str]) -> int:
    jobs: list[dict[str, Any]] = json.loads(argv[1])
    progress: dict[str, tuple[Path, int]] = {}
    start = time.monotonic()
    done = threading.Event()
    reporter = threading.Thread(target=report, args=(progress, start, done), daemon=True)
    reporter.start()
    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = {job["model"]: pool.submit(fetch, job, progress) for job in jobs}
        for model, future in futures.items():
            try:
                why = future.result()
            except Exception as exc:  # the client's errors are many; each is reported
                why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            job = next(j for j in jobs if j["model"] == model)
            where = f"{job['endpoint']}/{job['repo']}@{job['revision'][:12]}"
            if why is None:
                total = progress.get(model, (Path(), 0))[1]
                seconds = time.monotonic() - start
                print(f"{model}: {total / 2**20:.1f} MB from {where}, checked, {seconds:.1f} s")
            else:
                failed += 1
                print(f"{model}: not fetched from {where}: {why}", file=sys.stderr)
    done.set()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
