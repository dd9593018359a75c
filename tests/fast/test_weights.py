"""Weights on demand, without a host: a model's hub source, its derived paths and files, its
rules, and the fetcher's check of what arrived."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from huggingface_hub.hf_api import RepoFile
from pydantic import ValidationError
from pyinfra.api.exceptions import PyinfraError

import deploys.weights as deploys_weights
from deploys.scripts import copy_weights
from deploys.scripts.copy_weights import differences
from deploys.scripts.fetch_weights import check
from deploys.weights import LISTER, BackroomFiles, FreeBytes, HubFile, refuse_unfetchable
from homelab import PROJECT_ROOT
from homelab.cli import main
from homelab.console.weights import named
from homelab.model import Platform
from homelab.model.weights import BackroomSource, Fetch, HubSource, fetch_of, hub_folder
from homelab.services import mlx as mlx_module
from homelab.services.llama_cpp import LlamaCppServers
from homelab.services.mlx import MLX_FILES, MlxServers

HF = "/Users/thestudio/models/hf"
REV = "0123456789abcdef0123456789abcdef01234567"
HOST = {"hf_home": HF}
LAB_INVENTORY = PROJECT_ROOT / "lab" / "inventory.py"


def mlx_data(**source: Any) -> dict[str, Any]:
    model = dict(
        model_id="mlx-tiny",
        repo="org/tiny",
        context_length=2048,
        port=8100,
        source={"revision": REV, **source},
    )
    return {"registry_path": "/m/registry.json", "models_dir": "/m/mlx", "models": [model]}


def test_an_mlx_model_from_the_hub_is_served_from_its_snapshot() -> None:
    mlx = MlxServers.model_validate(MlxServers.derive(mlx_data(), HOST))
    (model,) = mlx.models
    assert isinstance(model.source, HubSource)
    assert model.source_path == f"{HF}/hub/models--org--tiny/snapshots/{REV}"
    assert model.source.allow_patterns == MLX_FILES
    assert model.source.repo == model.repo


def test_a_gguf_model_from_the_hub_is_its_file_in_the_snapshot() -> None:
    data = {
        "models_dir": "/m/gguf",
        "models": [
            dict(
                model_id="gguf-tiny",
                repo="org/tiny-gguf",
                file="tiny.gguf",
                context_length=2048,
                port=8140,
                source={"revision": REV},
            )
        ],
    }
    (model,) = LlamaCppServers.model_validate(LlamaCppServers.derive(data, HOST)).models
    assert model.path == f"{HF}/hub/models--org--tiny-gguf/snapshots/{REV}/tiny.gguf"
    assert isinstance(model.source, HubSource)
    assert model.source.allow_patterns == ("tiny.gguf",)


@pytest.mark.parametrize(
    ("source", "field", "rule"),
    [
        ({"revision": "main"}, "revision", "pinned to a commit"),
        ({"repo": "org/other"}, "source.repo", "the registry's repo"),
        ({"endpoint": "ftp://hub"}, "endpoint", "should match pattern"),
        ({"token": "hf_literal"}, "token", "secrets are references"),
    ],
)
def test_a_bad_source_is_refused_naming_its_field(
    source: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        MlxServers.model_validate(MlxServers.derive(mlx_data(**source), HOST))
    text = str(caught.value)
    assert field in text and rule in text, text


def test_the_source_names_its_place_in_the_cache() -> None:
    source = HubSource(repo="org/tiny", revision=REV, allow_patterns=("*",))
    assert source.complete_mark(HF).startswith(f"{HF}/hub/models--org--tiny/.complete-{REV}-")
    assert source.where == f"https://huggingface.co/org/tiny@{REV[:12]}"


def blob_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


def test_the_fetcher_checks_every_files_size_and_hash(tmp_path: Path) -> None:
    small, big = b'{"a": 1}', b"w" * 4096
    (tmp_path / "config.json").write_bytes(small)
    (tmp_path / "model.safetensors").write_bytes(big)
    files = [
        RepoFile(path="config.json", size=len(small), oid=blob_sha1(small)),  # type: ignore[no-untyped-call]
        RepoFile(  # type: ignore[no-untyped-call]
            path="model.safetensors",
            size=len(big),
            oid="x",
            lfs={"size": len(big), "oid": hashlib.sha256(big).hexdigest(), "pointerSize": 130},
        ),
    ]
    assert check(tmp_path, files) == []
    (tmp_path / "model.safetensors").write_bytes(b"v" * 4096)  # same size, other bytes
    (tmp_path / "config.json").write_bytes(b'{"a": 2}')
    assert check(tmp_path, files) == [
        "config.json: git blob sha1 differs from the hub's",
        "model.safetensors: sha256 differs from the hub's",
    ]
    # The files that differed were removed: the next check (and fetch) finds them missing.
    assert check(tmp_path, files) == ["config.json: missing", "model.safetensors: missing"]


def test_the_lab_names_what_each_host_serves(lab_platform: Platform) -> None:
    on_studio = named(lab_platform, "studio")
    assert on_studio.get(hub_folder("lab/tiny-llama-a")) is True, on_studio
    assert hub_folder("lab/not-in-the-data") not in on_studio


@pytest.mark.parametrize(
    ("words", "says"),
    [
        (["weights", "prune"], "name one host"),
        (["weights", "nowhere"], "no host 'nowhere'"),
        (["weights", "studio", "mini"], "expected [HOST], prune HOST or offload HOST REPO"),
        (["weights", "offload", "studio"], "name one host and one repository"),
    ],
)
def test_weights_misuse_is_one_line_and_touches_nothing(
    words: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*words, "--inventory", str(LAB_INVENTORY)]) != 0
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1, err


def test_free_space_is_read_in_kib_and_multiplied_here() -> None:
    # mawk prints a product over 2^31 as 6.46856e+10: the fact multiplies, not awk.
    assert FreeBytes().process(["63169504\t/var/lib/x", "6.4e+10\t/y"]) == {
        "/var/lib/x": 63169504 * 1024
    }


def test_a_backroom_source_is_copied_to_the_models_showroom_folder() -> None:
    data = mlx_data()
    data["models"][0]["source"] = {"backroom": "/Volumes/Seagate/models/tiny"}
    (model,) = MlxServers.model_validate(MlxServers.derive(data, HOST)).models
    assert isinstance(model.source, BackroomSource)
    assert model.source_path == "/m/mlx/tiny"


def refusal(platform: Platform, source: dict[str, Any], **fields: Any) -> str:
    """The platform's refusal when its first MLX host's first model takes ``source``."""
    host, servers = next(mlx_module.SERVICE.placed(platform))
    model = {**servers.models[0].model_dump(), "source": source, **fields}
    changed = servers.model_validate({**servers.model_dump(), "models": [model]})
    hosts = platform.model_dump()["hosts"]
    hosts[host] = {**platform.host(host).model_dump(), "mlx": changed.model_dump()}
    with pytest.raises(ValidationError) as caught:
        Platform.model_validate({**platform.model_dump(), "hosts": hosts})
    return str(caught.value)


def test_a_backroom_source_must_be_on_backroom_storage(platform: Platform) -> None:
    host, servers = next(mlx_module.SERVICE.placed(platform))
    text = refusal(platform, {"backroom": servers.models[0].source_path})  # showroom
    assert f"{host}.mlx.models[0].source.backroom" in text
    assert "declared backroom storage" in text


def test_a_hub_model_is_served_from_its_snapshot_only(platform: Platform) -> None:
    host, servers = next(mlx_module.SERVICE.placed(platform))
    source = {"repo": servers.models[0].repo, "revision": REV, "allow_patterns": ("*",)}
    text = refusal(platform, source)  # its source_path stays the data's folder
    assert f"{host}.mlx.models[0].source_path" in text
    assert "is not where the hub's files land" in text


def test_the_copier_checks_the_copy_against_its_source(tmp_path: Path) -> None:
    source, copy = tmp_path / "src", tmp_path / "copy"
    source.mkdir()
    (source / "model.safetensors").write_bytes(b"w" * 1000)
    (source / "config.json").write_text("{}")
    shutil.copytree(source, copy)
    assert differences(source, copy) == []
    (copy / "model.safetensors").write_bytes(b"v" * 1000)
    assert differences(source, copy) == ["model.safetensors: sha256 differs from the source's"]
    (copy / "config.json").unlink()
    assert "config.json: missing" in differences(source, copy)


def test_the_plan_time_listing_runs_with_the_standard_library(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "model.safetensors").write_bytes(b"x" * 10)
    paths = [str(tmp_path / "a"), str(tmp_path / "none")]
    out = subprocess.run(
        [sys.executable, "-I", "-", *paths], input=LISTER, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert BackroomFiles().process(out.stdout.splitlines()) == {
        paths[0]: {"model.safetensors": 10},
        paths[1]: None,
    }


def gguf_fetches() -> tuple[Fetch, Fetch]:
    """Two GGUF models from one repository and revision, each its own file."""
    out = []
    for n, name in enumerate(("q4.gguf", "q8.gguf")):
        source = HubSource(repo="org/tiny-gguf", revision=REV, allow_patterns=(name,))
        fetch = fetch_of(f"tiny-{name}", f"m.models[{n}]", 8140 + n, source, HF, "/p", ("*.gguf",))
        assert fetch is not None
        out.append(fetch)
    return out[0], out[1]


def test_two_files_of_one_revision_each_have_their_own_mark() -> None:
    q4, q8 = gguf_fetches()
    assert q4.dest == q8.dest
    assert q4.complete_mark != q8.complete_mark


def test_the_disk_check_counts_every_fetch_into_one_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    q4, q8 = gguf_fetches()
    sizes = {"q4.gguf": 600, "q8.gguf": 900}

    def files_of(source: HubSource) -> list[HubFile]:
        return [HubFile(p, sizes[p]) for p in source.allow_patterns]

    class Host:
        def get_fact(self, fact: object, **kwargs: Any) -> dict[str, int]:
            return {p: 1000 for p in kwargs["paths"]}

    monkeypatch.setattr(deploys_weights, "missing", lambda fetches: tuple(fetches))
    monkeypatch.setattr(deploys_weights, "hub_files", files_of)
    monkeypatch.setattr(deploys_weights, "host", Host())
    platform = cast(Platform, None)  # no backroom source: the platform is not asked
    with pytest.raises(PyinfraError, match=r"need 1\.46 kB, and 1000 B is free"):
        refuse_unfetchable(platform, "studio", (q4, q8))


def test_a_file_that_fails_its_check_is_removed_for_the_next_fetch(tmp_path: Path) -> None:
    good = b"w" * 4096
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / REV
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    blob = blobs / hashlib.sha256(good).hexdigest()
    blob.write_bytes(b"v" * 4096)  # same size, other bytes: a corrupt download
    (snapshot / "model.safetensors").symlink_to(blob)
    lfs = {"size": len(good), "oid": hashlib.sha256(good).hexdigest(), "pointerSize": 130}
    files = [RepoFile(path="model.safetensors", size=len(good), oid="x", lfs=lfs)]  # type: ignore[no-untyped-call]
    assert check(snapshot, files) == ["model.safetensors: sha256 differs from the hub's"]
    assert not (snapshot / "model.safetensors").is_symlink(), "the bad link was left"
    assert not blob.exists(), "the bad blob was left"
    assert check(snapshot, files) == ["model.safetensors: missing"]


def _copy_job(tmp_path: Path) -> dict[str, Any]:
    source = tmp_path / "backroom" / "model"
    source.mkdir(parents=True)
    (source / "model.safetensors").write_bytes(b"w" * 64)
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return {
        "model": "mlx-m",
        "source": str(source),
        "dest": str(tmp_path / "showroom" / "model"),
        "mark": str(tmp_path / "mark.json"),
        "owner": {"user": user, "group": group},
    }


def test_a_copy_keeps_what_was_at_its_destination(tmp_path: Path) -> None:
    job = _copy_job(tmp_path)
    dest = Path(str(job["dest"]))
    dest.mkdir(parents=True)
    (dest / "mine.safetensors").write_bytes(b"the operator's own")
    assert copy_weights.copy(job) is None
    assert (dest / "model.safetensors").read_bytes() == b"w" * 64
    kept = dest.with_name("model.before-copy") / "mine.safetensors"
    assert kept.read_bytes() == b"the operator's own", "the files at the destination were lost"


def test_files_already_at_the_destination_are_marked_not_copied(tmp_path: Path) -> None:
    job = _copy_job(tmp_path)
    dest = Path(str(job["dest"]))
    shutil.copytree(str(job["source"]), dest)
    before = (dest / "model.safetensors").stat().st_ino
    assert copy_weights.copy(job) is None
    assert (dest / "model.safetensors").stat().st_ino == before, "copied again"
    assert Path(str(job["mark"])).is_file()
    assert not dest.with_name("model.before-copy").exists()


def test_prune_keeps_the_models_optillms_local_instances_load(platform: Platform) -> None:
    # The Studio's OptiLLM instances load Qwen models from its hub cache (off in the data).
    on_studio = named(platform, "studio")
    assert on_studio.get(hub_folder("Qwen/Qwen2.5-7B-Instruct")) is False, on_studio
