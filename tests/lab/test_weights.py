"""Weights on demand, on the lab: a model whose files are only on the lab's hub (olah, offline,
on mac2) and one only on the host's backroom storage arrive by the deploy and answer through the
gateway; a model the hub does not have and a model over the memory budget are refused while the
deploy plans, with nothing restarted; the second deploy brings nothing.

Each step deploys a variant of the lab's data (``test_day_two.Variants``: the MLX host's models
changed) and prints its time; the lab ends on its own data (the fetched files stay: a deploy
never deletes weights). The session holds the lab lock (``conftest.lab_lock``).
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from huggingface_hub import HfApi

from homelab.lab.data import BACKROOM
from homelab.lab.substitutes.hub_mirror import BIG_REPO, TINY_REPOS
from homelab.lab.substitutes.mlx import maker_path
from homelab.load import load_platform
from homelab.model import Platform
from homelab.model.weights import hub_folder
from homelab.services.hub_mirror import HubMirrorService
from tests.lab.conftest import LAB_INVENTORY, changed, refused_deploy, ssh
from tests.lab.test_day_two import Variants, answers, main_pids, mlx_host, restarted
from tests.lab.test_day_two import variants as variants

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

FETCH = "Fetch the weights of"
COPY = "Copy the weights of"
#: A refusal comes while the deploy plans: well inside this many seconds.
REFUSED_WITHIN = 30.0


def hub_endpoint(platform: Platform) -> str:
    module = platform.module(HubMirrorService.name)
    assert isinstance(module, HubMirrorService)
    endpoint = module.endpoint(platform)
    assert endpoint is not None, "the lab's data places no hub mirror"
    return endpoint


def mlx_servers_venv(platform: Platform, host: str) -> str:
    return platform.host(host).layout.venv("mlx")


def pinned(endpoint: str, repo: str) -> str:
    """The commit the lab hub's ``main`` of ``repo`` is at (the data pins it)."""
    sha = HfApi(endpoint=endpoint, token=False).model_info(repo, revision="main").sha
    assert sha, f"{endpoint}: no commit for {repo}"
    return sha


def hub_model(endpoint: str, repo: str, model_id: str, port: int, revision: str) -> dict[str, Any]:
    return dict(
        model_id=model_id,
        repo=repo,
        context_length=2048,
        max_output_tokens=32,
        port=port,
        source=dict(endpoint=endpoint, revision=revision),
    )


def test_models_from_the_hub_arrive_and_what_cannot_come_is_refused(
    lab: dict[str, Any], variants: Variants
) -> None:
    platform = load_platform(LAB_INVENTORY)
    host, servers = mlx_host(platform)
    variants.step("the lab's own data (its hub up)", LAB_INVENTORY)
    endpoint = hub_endpoint(platform)
    own = [m.model_dump(exclude_none=True) for m in servers.models]
    free = [p for p in range(8100, 8120) if p not in {m.port for m in servers.models}]
    repo = TINY_REPOS[0]
    added = hub_model(endpoint, repo, "mlx-tiny-llama-hub", free[0], pinned(endpoint, repo))
    snapshot = f"{platform.host(host).hf_home}/hub/{hub_folder(repo)}"
    ssh(host, f"rm -rf {snapshot}")  # only on the hub when the test starts
    # One only on backroom storage: a tiny model made there (by the lab's MLX maker).
    kept = f"{BACKROOM}/tiny-llama-back"
    shown = f"{servers.models_dir}/tiny-llama-back"
    ssh(
        host,
        f"rm -rf {kept} {shown} {shown}.complete && mkdir -p {BACKROOM} && "
        f"{mlx_servers_venv(platform, host)}/bin/python {maker_path(platform, host)} {kept} 7",
    )
    back: dict[str, Any] = dict(
        model_id="mlx-tiny-llama-back",
        repo="lab/tiny-llama-back",
        context_length=2048,
        max_output_tokens=32,
        port=free[2],
        source=dict(backroom=kept),
    )

    # 1. Only on the hub, only on backroom: each brought before its server starts (at once),
    # each answering through the gateway.
    inventory = variants(models=[*own, added, back])
    start = time.monotonic()
    fetched, _ = variants.step("add a model from the lab hub and one from backroom", inventory)
    results_ops = changed(variants.results)
    for op_name in (FETCH, COPY):
        assert any(op_name in op for op in results_ops), (
            f"expected an operation '{op_name} ...', found {results_ops}"
        )
    answers(fetched, added["model_id"])
    print(f"deploy start to first answer of the fetched models: {time.monotonic() - start:.1f} s")
    answers(fetched, back["model_id"])
    same = ssh(host, f"cd {kept} && sha256sum * && cd {shown} && sha256sum *").stdout.splitlines()
    assert same[: len(same) // 2] == same[len(same) // 2 :], f"copy differs from source: {same}"

    # 2. The second deploy fetches and copies nothing.
    variants.step("the same data again", inventory)
    again = changed(variants.results)
    assert not any(FETCH in op or COPY in op for op in again), f"brought again: {again}"

    # 3. A repo the hub does not have: refused in seconds, naming it; nothing restarted.
    before = main_pids(platform)
    nope = hub_model(endpoint, "lab/no-such-model", "mlx-tiny-llama-nope", free[1], "0" * 40)
    seconds, output = refused_deploy(variants(models=[*own, added, back, nope]))
    print(f"unknown repo refused in {seconds:.1f} s")
    assert seconds < REFUSED_WITHIN, f"refused after {seconds:.1f} s, expected < {REFUSED_WITHIN}"
    for word in ("mlx-tiny-llama-nope", "lab/no-such-model", "refused before anything"):
        assert word in output, f"expected {word!r} in the refusal, found:\n{output[-2000:]}"
    assert restarted(before, main_pids(platform)) == [], "a refused deploy restarted daemons"

    # 4. Over the memory budget by the hub's sizes: refused before any byte moves.
    big = hub_model(endpoint, BIG_REPO, "mlx-tiny-llama-big", free[1], pinned(endpoint, BIG_REPO))
    seconds, output = refused_deploy(variants(models=[*own, added, back, big]))
    print(f"over-budget model refused in {seconds:.1f} s")
    assert "memory budget" in output and "mlx-tiny-llama-big" in output, output[-2000:]
    big_cache = f"{platform.host(host).hf_home}/hub/{hub_folder(BIG_REPO)}"
    found = ssh(host, f"test -e {big_cache} && echo present || echo absent").stdout.strip()
    assert found == "absent", f"{big_cache}: expected absent (nothing downloaded), found {found}"
    assert restarted(before, main_pids(platform)) == [], "a refused deploy restarted daemons"
