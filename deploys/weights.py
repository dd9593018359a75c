"""Weights on demand: a served model's files fetched from the hub before its server starts.

Two steps, one at plan time and one at run time:

- :func:`refuse_unfetchable` (a deployer's ``refuse``, before anything on any host changes):
  for each model whose files are not complete on the host yet, the hub's metadata is asked
  from the deploying machine with the real client (``HfApi.model_info`` and
  ``get_paths_info`` at the pinned revision, the data's ``allow_patterns``): an unknown repo
  or revision, an unreachable hub or a refused request stops the host's run in seconds, naming
  the model, the source and the path. The sizes it learns are checked against the host's free
  disk (where the hub cache is) and fed to the memory budget, so a set over it is refused
  before a byte moves.
- :func:`fetch` (run before the servers): one operation per host runs
  ``deploys/scripts/fetch_weights.py`` on the host, in a small venv of its own holding only
  ``huggingface_hub`` (the same client on every host and for every backend, whatever each
  server's venv carries), fetching every missing model at once with progress lines. A model
  complete on the host (its mark, written after every file's size and hash were checked) is
  not fetched again: a second deploy asks one path per model and fetches nothing.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from io import StringIO
from typing import Any

from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.facts import FactBase
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.operations import files

from deploys.budget import size
from deploys.installs import locked_venv
from deploys.shown import shown_shell
from deploys.state import exists
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.locks import lock_for_fetcher
from homelab.model import Platform
from homelab.model.weights import FETCHER_INSTALL, BackroomSource, Fetch, HubSource

FETCHER = PROJECT_ROOT / "deploys" / "scripts" / "fetch_weights.py"
COPIER = PROJECT_ROOT / "deploys" / "scripts" / "copy_weights.py"
#: Seconds the plan-time question to the hub may take: a hub that does not answer in this
#: time stops the host's run (the deploy is not left waiting on a dead link).
ASK_TIMEOUT = 10.0


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int


def hub_files(source: HubSource) -> list[HubFile]:
    """The files ``source`` names and their sizes, from the hub's metadata (raises on a hub
    that refuses or does not answer)."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    # token=False: the deploying machine's own hub login never goes to a mirror named in data.
    api = HfApi(endpoint=source.endpoint, token=False)
    info = api.model_info(source.repo, revision=source.revision, timeout=ASK_TIMEOUT)
    names = [
        s.rfilename
        for s in info.siblings or ()
        if any(fnmatch.fnmatch(s.rfilename, p) for p in source.allow_patterns)
    ]
    if not names:
        raise LookupError(f"no file matches {list(source.allow_patterns)}")
    found = api.get_paths_info(source.repo, names, revision=source.revision)
    return [HubFile(f.path, f.size) for f in found if isinstance(f, RepoFile)]


def why_not(exc: BaseException) -> str:
    """A refusal's reason in one line: the client's first line names the URL and status."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class FreeBytes(FactBase[dict[str, int]]):
    """Free bytes on the file system that holds each path (its nearest existing parent).

    df says KiB; the product is taken here (mawk prints a large product as 1.2e+10)."""

    default = dict

    def command(self, paths: tuple[str, ...]) -> str:
        words = " ".join(shlex.quote(p) for p in paths)
        return (
            f'for d in {words}; do p="$d"; while [ ! -e "$p" ]; do p=$(dirname "$p"); '
            "done; printf '%s\\t%s\\n' \"$(df -Pk \"$p\" | awk 'NR==2 {print $4}')\" "
            '"$d"; done'
        )

    def process(self, output: list[str]) -> dict[str, int]:
        free: dict[str, int] = {}
        for line in output:
            n, _, path = line.partition("\t")
            if path and n.strip().isdigit():
                free[path] = int(n) * 1024
        return free


def missing(fetches: Iterable[Fetch]) -> tuple[Fetch, ...]:
    """The fetches whose files are not complete on the host."""
    return tuple(f for f in fetches if not exists(f.complete_mark))


class BackroomFiles(FactBase[dict[str, dict[str, int] | None]]):
    """Each backroom path's files and sizes (None: not there), with the host's own Python."""

    default = dict

    def command(self, python: str, paths: tuple[str, ...]) -> str:
        return f"{python} - {' '.join(shlex.quote(p) for p in paths)} <<'EOF'\n{LISTER}EOF"

    def process(self, output: list[str]) -> dict[str, dict[str, int] | None]:
        found: dict[str, dict[str, int] | None] = json.loads("".join(output) or "{}")
        return found


#: The copier's own listing (``copy_weights.files_of``), run on the host at plan time.
LISTER = (
    COPIER.read_text().split("def sha256", 1)[0]
    + "\nimport sys\nprint(json.dumps({p: files_of(Path(p)) if os.path.exists(p) else None "
    "for p in sys.argv[1:]}))\n"
)


def weight_bytes(f: Fetch, files: dict[str, int]) -> int:
    """The bytes of ``files`` (path -> size) that the memory budget counts."""
    return sum(
        n
        for path, n in files.items()
        if any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in f.weight_patterns)
    )


def refuse_unfetchable(
    platform: Platform, host_name: str, fetches: tuple[Fetch, ...]
) -> dict[str, int]:
    """Stop the host's run unless every missing model can come and fit its disk; the bytes
    of each missing model's weights by its budget path (for the memory budget)."""
    todo = missing(fetches)
    if not todo:
        return {}
    problems: list[str] = []
    #: Bytes per fetch (not per destination: two models can share one snapshot folder).
    needed: dict[Fetch, int] = {}
    weights: dict[str, int] = {}
    backroom = [f.source.backroom for f in todo if isinstance(f.source, BackroomSource)]
    listed = (
        host.get_fact(
            BackroomFiles, python=platform.host(host_name).toolchain.python, paths=tuple(backroom)
        )
        if backroom
        else {}
    )
    for f in todo:
        files: dict[str, int] | None
        if isinstance(f.source, BackroomSource):
            files = listed.get(f.source.backroom)
            why = "no such file or folder" if files is None else "no file there"
        elif f.source.token is not None:
            # Its token is the host's secret, never on the deploying machine: the fetch on the
            # host asks the hub, and a refusal stops the host there, before this server starts.
            continue
        else:
            try:
                files = {h.path: h.size for h in hub_files(f.source)}
            except Exception as exc:  # the client's errors are many (HTTP, connection, timeout)
                files, why = None, why_not(exc)
        if not files:
            problems.append(
                f"{host_name}: {f.model_id} ({f.at}.source) cannot come from "
                f"{f.source.where}: {why}; it would land in {f.dest}"
            )
            continue
        needed[f] = sum(files.values())
        weights[f.budget_path] = weight_bytes(f, files)
    if not problems and needed:
        dests = tuple(sorted({f.dest for f in needed}))
        free = host.get_fact(FreeBytes, paths=dests)
        # Whether they share a disk is not asked: together they must fit the smallest room.
        total, room = sum(needed.values()), min(free.get(p, 0) for p in dests)
        if total > room:
            names = ", ".join(f.model_id for f in todo)
            problems.append(
                f"{host_name}: {names} need {size(total)}, and {size(room)} is free where they "
                "land (rule: the weights fit the disk before a byte moves)"
            )
    if problems:
        raise PyinfraError("; ".join(problems) + "; refused before anything was stopped or started")
    return weights


def fetch(
    platform: Platform,
    host_name: str,
    fetches: tuple[Fetch, ...],
    owner: str,
    group: str,
    tools: Tools,
) -> dict[int, list[OperationMeta]]:
    """Every missing model of the host brought, before the servers: those from the hub in one
    operation (several at once), those from backroom storage in another; each model's port
    maps to its operations, so its server starts (or restarts) on its files."""
    todo = missing(fetches)
    hub = [f for f in todo if isinstance(f.source, HubSource)]
    back = [f for f in todo if isinstance(f.source, BackroomSource)]
    layout = platform.host(host_name).layout
    install_dir = layout.install_dir(FETCHER_INSTALL)
    out: dict[int, list[OperationMeta]] = {}
    if hub:
        venv = layout.venv(FETCHER_INSTALL)
        script = f"{install_dir}/{FETCHER.name}"
        ops: list[OperationMeta] = list(
            locked_venv(lock_for_fetcher(platform, host_name), install_dir, venv, tools)
        )
        ops.append(
            files.put(
                name=f"The weights fetcher {script}",
                src=StringIO(FETCHER.read_text()),
                dest=script,
                mode="0755",
            )
        )
        plan = [job(platform, host_name, f) for f in hub]
        owned = [
            f"chown -R {owner}:{group} {shlex.quote(f.source.cache(f.hf_home))}"
            for f in hub
            if isinstance(f.source, HubSource) and f.hf_home
        ]
        ops.append(
            # Its progress lines shown as they come (a long download's bytes, rate, time left).
            shown_shell(
                name=f"Fetch the weights of {', '.join(f.model_id for f in hub)} from the hub",
                command=" && ".join(
                    [f"{venv}/bin/python {script} {shlex.quote(_json(plan))}", *owned]
                ),
            )
        )
        out.update({f.port: ops for f in hub})
    if back:
        copier = f"{install_dir}/{COPIER.name}"
        jobs = [
            {
                "model": f.model_id,
                "source": f.source.backroom,
                "dest": f.dest,
                "mark": f.complete_mark,
                "owner": {"user": owner, "group": group},
            }
            for f in back
            if isinstance(f.source, BackroomSource)
        ]
        python = platform.host(host_name).toolchain.python
        copied = [
            files.put(
                name=f"The weights copier {copier}",
                src=StringIO(COPIER.read_text()),
                dest=copier,
                mode="0755",
            ),
            shown_shell(
                name=f"Copy the weights of {', '.join(f.model_id for f in back)} from backroom "
                "storage",
                command=f"{python} {copier} {shlex.quote(_json(jobs))}",
            ),
        ]
        out.update({f.port: copied for f in back})
    return out


def job(platform: Platform, host_name: str, f: Fetch) -> dict[str, Any]:
    """What the fetcher needs of one model (the token by its file in the host's store)."""
    assert isinstance(f.source, HubSource)
    token = f.source.token
    return {
        "model": f.model_id,
        "repo": f.source.repo,
        "revision": f.source.revision,
        "allow": list(f.source.allow_patterns),
        "endpoint": f.source.endpoint,
        "cache_dir": f"{f.hf_home}/hub",
        "mark": f.complete_mark,
        "token_file": platform.host(host_name).layout.secret_file(token.env) if token else None,
    }


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
