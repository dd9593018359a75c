"""``homelab weights [HOST]``: what each host's hub cache holds, its size, whether it is served;
``homelab weights prune HOST``: remove what no model of the host's data names;
``homelab weights offload HOST REPO``: move what no server there serves to backroom storage.

A deploy never deletes weights (a model that leaves the data keeps its files); this is the one
place that does, on the operator's word, and only in the hub cache (``<hf_home>/hub``).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from homelab.console.connect import Unreachable, connected
from homelab.load import load_platform
from homelab.model import Platform
from homelab.model.weights import hub_folder

#: One line per repository folder of the hub cache: KiB, then its path.
LIST = 'for d in "$HUB"/models--*; do [ -d "$d" ] && du -sk "$d"; done; true'


@dataclass(frozen=True)
class Held:
    host: str
    repo: str
    folder: str
    kib: int
    #: "served", "named" (in the data, no server), or "not named".
    state: str

    def line(self) -> str:
        mb = self.kib / 1024
        return f"{self.host:<10} {self.repo:<48} {mb:>10.1f} MB  {self.state}"


def named(platform: Platform, host: str) -> dict[str, bool]:
    """Hub folder -> served, for every repository the host's data names."""
    out: dict[str, bool] = {}
    for service in platform.modules(host):
        for repo, served in service.weights(platform, host).items():
            folder = hub_folder(repo)
            out[folder] = out.get(folder, False) or served
    return out


def repo_of(folder: str) -> str:
    return folder.removeprefix("models--").replace("--", "/", 1)


def held(inventory: Path | str, hosts: list[str] | None = None) -> list[Held]:
    """What each host (with a hub cache) holds."""
    platform = load_platform(inventory)
    wanted = [h for h in hosts or platform.hosts if platform.host(h).hf_home is not None]
    out: list[Held] = []
    with connected(inventory, wanted) as remotes:
        for host in wanted:
            hub = f"{platform.host(host).hf_home}/hub"
            result = remotes[host].run(f"HUB={shlex.quote(hub)}; {LIST}")
            if not result.ok:
                raise Unreachable(f"{host}: listing {hub} failed: {result.stderr.strip()}")
            names = named(platform, host)
            for line in result.stdout.splitlines():
                kib, _, path = line.partition("\t")
                if not path or not kib.strip().isdigit():
                    continue
                folder = path.rsplit("/", 1)[-1]
                served = names.get(folder)
                state = "not named" if served is None else ("served" if served else "named")
                out.append(Held(host, repo_of(folder), path, int(kib), state))
    return out


def prune(
    inventory: Path | str, host: str, yes: bool, ask: Callable[[str], str] = input
) -> list[str]:
    """Remove the host's hub folders no model names, after asking (or ``yes``); the lines."""
    gone = [h for h in held(inventory, [host]) if h.state == "not named"]
    if not gone:
        return [f"{host}: every folder of the hub cache is named by the data; nothing to remove"]
    for h in gone:
        print(f"remove {h.line()}")
    if not yes and ask(f"remove these {len(gone)} from {host}? [y/N] ").strip().lower() != "y":
        return [f"{host}: nothing removed"]
    with connected(inventory, [host]) as remotes:
        result = remotes[host].run("rm -rf " + " ".join(shlex.quote(h.folder) for h in gone))
    if not result.ok:
        raise Unreachable(f"{host}: removing failed: {result.stderr.strip()}")
    freed = sum(h.kib for h in gone) / 1024
    return [f"{host}: removed {len(gone)} folder(s), {freed:.1f} MB"]


class Refused(Exception):
    """An offload the data or the host does not allow; the message says why."""


def offload(
    inventory: Path | str, host: str, repo: str, yes: bool, ask: Callable[[str], str] = input
) -> list[str]:
    """Move a repository the host's hub cache holds, served by no server there, to backroom
    storage: each revision's files copied (``deploys/scripts/copy_weights.py``: beside first,
    every file's size and sha256 compared), and only then the hub folder removed. A model
    entry may then name it: ``source=dict(backroom=PATH)``."""
    from deploys.weights import COPIER

    platform = load_platform(inventory)
    found = [h for h in held(inventory, [host]) if h.repo == repo]
    if not found:
        raise Refused(f"{host}: its hub cache holds no {repo!r} (see: homelab weights {host})")
    row = found[0]
    if row.state == "served":
        raise Refused(
            f"{host}: {repo} is served there; take its port out of the data and deploy first "
            "(rule: a model stored only on backroom storage gets no handle)"
        )
    backroom = [r for r in platform.storage if not r.showroom]
    if not backroom:
        raise Refused("the data declares no backroom storage (storage with showroom=False)")
    root = backroom[0]
    python = platform.host(host).toolchain.python
    group = platform.host(host).os.staff_group or "root"
    with connected(inventory, [host]) as remotes:
        listed = remotes[host].run(f"ls -1 {shlex.quote(row.folder)}/snapshots")
        revisions = [r for r in listed.stdout.split() if r]
        if not listed.ok or not revisions:
            raise Refused(f"{host}: {row.folder} holds no snapshot to offload")
        name = repo.replace("/", "--")
        jobs = [
            {
                "model": repo,
                "source": f"{row.folder}/snapshots/{rev}",
                "dest": f"{root.path}/{name}" + (f"@{rev[:12]}" if len(revisions) > 1 else ""),
                "mark": f"{root.path}/{name}@{rev}.offloaded",
                "owner": {"user": "root", "group": group},
            }
            for rev in revisions
        ]
        print(f"move {row.line()}\n  to {', '.join(str(j['dest']) for j in jobs)} ({root.name})")
        if not yes and ask(f"move {repo} off {host}'s hub cache? [y/N] ").strip().lower() != "y":
            return [f"{host}: nothing moved"]
        copied = remotes[host].run(
            f"mkdir -p {shlex.quote(root.path)} && {python} - {shlex.quote(json.dumps(jobs))}",
            stdin=COPIER.read_text(),
        )
        if not copied.ok:
            raise Refused(f"{host}: the copy failed, nothing removed: {copied.stderr.strip()}")
        removed = remotes[host].run(f"rm -rf {shlex.quote(row.folder)}")
        if not removed.ok:
            raise Refused(f"{host}: copied, but removing {row.folder} failed: {removed.stderr}")
    return [f"{host}: {repo} moved to {', '.join(str(j['dest']) for j in jobs)}, checked"]
