"""Weights on demand on the lab: how fast the fetch is, and a fetched model's way to its first
answer.

- ``model_fetch_mb_s``: a repository of ``BENCH_MB`` MB of random weights on the lab's hub
  (olah, offline; made on the hub's host once, committed like the lab hub's others) fetched on
  the MLX host by the deploy's own fetcher (its venv, ``deploys/scripts/fetch_weights.py``:
  ``snapshot_download`` and the size and hash check) into a scratch cache; then the same files
  with a plain ``curl`` from the same host, in the same run. The figure is the fetcher's MB/s;
  its note gives curl's and the ratio.
- ``fetched_model_first_answer_s``: a deploy adding a model whose files are only on the hub
  (its cache removed first), from the deploy's start to the model's first answer through the
  gateway. The lab goes back to its own data after.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from huggingface_hub import HfApi

from bench import daytwo, variant
from bench.lab import Lab, gateway_key, lan_gateway_url
from bench.variant import changed_lab
from deploys.weights import FETCHER
from homelab.lab.substitutes.hub_mirror import COMMIT, TINY_REPOS
from homelab.model import Platform
from homelab.model.weights import FETCHER_INSTALL, hub_folder
from homelab.services import mlx
from homelab.services.hub_mirror import HubMirrorService
from homelab.services.mlx import TEAM_PORTS

BENCH_REPO = "lab/bench-weights"
BENCH_MB = 32
SCRATCH = "/var/lib/homelab-llm/.bench-weights"


@dataclass(frozen=True)
class FetchRate:
    host: str
    megabytes: float
    fetcher_s: float
    curl_s: float

    @property
    def fetcher_mb_s(self) -> float:
        return self.megabytes / self.fetcher_s

    @property
    def curl_mb_s(self) -> float:
        return self.megabytes / self.curl_s


def hub_of(platform: Platform) -> tuple[str, str, str, str]:
    """(host, endpoint, mirrors folder, user) of the lab's hub."""
    module = platform.module(HubMirrorService.name)
    assert isinstance(module, HubMirrorService)
    for host, hub in module.placed(platform):
        endpoint = module.endpoint(platform)
        assert endpoint is not None
        return host, endpoint, hub.mirrors_dir, hub.user
    raise SystemExit("the lab's data places no hub mirror")


def ms(lab: Lab, host: str, command: str, timeout: float = 600) -> float:
    """Seconds ``command`` takes on ``host``, timed there (no SSH in the figure)."""
    out = lab.sh(
        host,
        f"s=$(date +%s%N); {command} >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))",
        timeout=timeout,
    )
    return int(out.strip().splitlines()[-1]) / 1000


def fetch_rate(lab: Lab, platform: Platform) -> FetchRate:
    hub_host, endpoint, mirrors, user = hub_of(platform)
    folder = f"{mirrors}/models/{BENCH_REPO}"
    q = shlex.quote(folder)
    lab.sh(
        hub_host,
        f"test -e {q}/.git/refs/heads/main || (rm -rf {q} && mkdir -p {q} && "
        f"head -c {BENCH_MB * 2**20} /dev/urandom > {q}/model.safetensors && "
        f"echo '{{}}' > {q}/config.json && cd {q} && git init -q -b main && git add -A && "
        f"{COMMIT} && chown -R {user}: {q})",
        timeout=300,
    )
    api = HfApi(endpoint=endpoint, token=False)
    revision = api.model_info(BENCH_REPO, revision="main").sha
    assert revision is not None
    files = ["config.json", "model.safetensors"]
    host, _servers = next(mlx.SERVICE.placed(platform))
    layout = platform.host(host).layout
    venv = layout.venv(FETCHER_INSTALL)
    script = f"{SCRATCH}/{FETCHER.name}"
    lab.put(host, script, FETCHER.read_text(), mode="0755")
    job = {
        "model": BENCH_REPO,
        "repo": BENCH_REPO,
        "revision": revision,
        "allow": files,
        "endpoint": endpoint,
        "cache_dir": f"{SCRATCH}/hub",
        "mark": f"{SCRATCH}/mark",
        "token_file": None,
    }
    lab.sh(host, f"rm -rf {SCRATCH}/hub {SCRATCH}/mark")
    fetcher_s = ms(lab, host, f"{venv}/bin/python {script} {shlex.quote(json.dumps([job]))}")
    urls = " ".join(f"{endpoint}/{BENCH_REPO}/resolve/{revision}/{f}" for f in files)
    curl_s = ms(lab, host, f"for u in {urls}; do curl -fsS -o /dev/null $u || exit 1; done")
    size = int(lab.sh(host, f"du -sbL {SCRATCH}/hub/{hub_folder(BENCH_REPO)}/snapshots").split()[0])
    lab.sh(host, f"rm -rf {SCRATCH}")
    return FetchRate(host, size / 2**20, fetcher_s, curl_s)


def first_answer(lab: Lab, platform: Platform) -> float:
    """Seconds from a deploy's start to the first answer of a model it fetched."""
    _hub_host, endpoint, _mirrors, _user = hub_of(platform)
    repo = TINY_REPOS[1]
    revision = HfApi(endpoint=endpoint, token=False).model_info(repo, revision="main").sha
    host, servers = next(mlx.SERVICE.placed(platform))
    taken = {m.port for m in servers.models if m.port is not None}
    port = next(p for p in TEAM_PORTS if p not in taken)
    model = "mlx-tiny-llama-fetched"
    hf_home = platform.host(host).hf_home
    key = mlx.SERVICE.key
    entry = (
        f"dict(model_id={model!r}, repo={repo!r}, context_length=2048, max_output_tokens=32, "
        f"port={port}, source=dict(endpoint={endpoint!r}, revision={revision!r}))"
    )
    url = lan_gateway_url(platform, "/v1/chat/completions")
    headers = {"Authorization": f"Bearer {gateway_key(lab, platform)}"}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    with tempfile.TemporaryDirectory() as folder:
        changed = changed_lab(Path(folder), variant.model_added(host, key, entry))
        daytwo.deploy()
        lab.sh(host, f"rm -rf {hf_home}/hub/{hub_folder(repo)}")  # only on the hub now
        start = time.monotonic()
        daytwo.deploy(changed)
        while True:
            answer = httpx.post(url, headers=headers, json=body, timeout=60)
            if answer.status_code == 200 or time.monotonic() - start > 600:
                break
            time.sleep(0.2)
        seconds = time.monotonic() - start
        daytwo.deploy()  # the lab as its data says again (the fetched files stay)
    if answer.status_code != 200:
        raise SystemExit(f"{model}: no answer after {seconds:.0f} s: {answer.text[:300]}")
    return seconds
