"""Where a served model's weights come from: the Hugging Face hub (or a mirror of it).

A model's ``source`` in the data names the hub repository, a pinned revision and the files it
needs; the deploy fetches them into the host's hub cache (``<hf_home>/hub``, the layout the
servers and ``huggingface_hub`` read) before the model's server starts, after checking their
sizes against the host's memory budget and free disk (``deploys/weights.py``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Self

from pydantic import Field, model_validator

from homelab.model.base import AbsPath, Frozen, SecretRef

#: A pinned revision: a commit's full hash (a branch or tag moves; a rebuild would differ).
COMMIT = re.compile(r"^[0-9a-f]{40}$")
#: The fetcher's venv on a host (``<opt>/weights``) and what it holds: the hub's own client.
FETCHER_INSTALL = "weights"
FETCHER_CLIENT = "huggingface_hub==2.4.0"
#: The public hub, where the data sets no mirror.
PUBLIC_HUB = "https://huggingface.co"


def hub_folder(repo: str) -> str:
    """The hub cache's folder name for ``repo`` (``models--org--name``)."""
    return "models--" + repo.replace("/", "--")


class HubSource(Frozen):
    """Weights from the Hugging Face hub, or a mirror speaking its API (``endpoint``)."""

    repo: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="the hub repository, org/name"
    )
    revision: str = Field(description="the commit the files are taken at (40 hex digits)")
    allow_patterns: tuple[str, ...] = Field(
        min_length=1, description="the files taken from the repository (fnmatch patterns)"
    )
    endpoint: str = Field(
        default=PUBLIC_HUB,
        pattern=r"^https?://[^/\s]+(/[^\s]*)?$",
        description="the hub or its mirror (HF_ENDPOINT)",
    )
    token: SecretRef | None = Field(
        default=None, description="the host's secret holding a hub token, for gated repos"
    )

    @model_validator(mode="after")
    def _pinned(self) -> Self:
        if not COMMIT.match(self.revision):
            raise ValueError(
                f"revision: {self.revision!r} is not a commit hash (rule: a hub source is "
                "pinned to a commit, 40 hex digits, so every host fetches the same files)"
            )
        return self

    def snapshot(self, hf_home: str) -> str:
        """The folder the files land in: the hub cache's snapshot of the revision."""
        return f"{self.cache(hf_home)}/snapshots/{self.revision}"

    def cache(self, hf_home: str) -> str:
        """The repository's folder in the hub cache."""
        return f"{hf_home}/hub/{hub_folder(self.repo)}"

    def complete_mark(self, hf_home: str) -> str:
        """Written by the fetcher once every file arrived and was checked: the next deploy
        asks the host for this one path and fetches nothing. Its name carries a short hash of
        the files asked for: two models from one repository and revision with different files
        (two GGUF quantisations) each have their own mark."""
        files = hashlib.sha256("\n".join(sorted(self.allow_patterns)).encode()).hexdigest()
        return f"{self.cache(hf_home)}/.complete-{self.revision}-{files[:12]}"

    @property
    def where(self) -> str:
        """The source in one phrase, for messages."""
        return f"{self.endpoint}/{self.repo}@{self.revision[:12]}"


class BackroomSource(Frozen):
    """Weights on the host's backroom storage (a drive kept for models not served), copied to
    the model's showroom path and checked against the source."""

    backroom: AbsPath = Field(
        description="the model's folder (MLX) or file (GGUF) on the host's backroom storage"
    )

    @property
    def where(self) -> str:
        return f"backroom {self.backroom}"


#: Where a model's weights come from.
WeightSource = HubSource | BackroomSource


def hub_source(given: Any, repo: Any, allow: tuple[str, ...]) -> Any:
    """Raw data's ``source`` with the derived defaults: the model's ``repo``, the backend's
    files (a hub source's). Runs before validation, so a derived field is checked like a
    written one."""
    if not isinstance(given, dict) or "backroom" in given:
        return given
    out = dict(given)
    if "repo" not in out and isinstance(repo, str):
        out["repo"] = repo
    out.setdefault("allow_patterns", allow)
    return out


@dataclass(frozen=True)
class Fetch:
    """One served model whose weights the deploy brings before its server starts."""

    model_id: str
    #: Where in the data (``studio.mlx.models[3]``).
    at: str
    port: int
    source: WeightSource
    #: Where the files land: the hub cache's snapshot, or the model's showroom path.
    dest: str
    #: Written once every file arrived and was checked: the next deploy asks for this one path.
    complete_mark: str
    #: The path the memory budget measures (an MLX folder, a GGUF file), and which of the
    #: files count toward it (the weights, not the tokenizer).
    budget_path: str
    weight_patterns: tuple[str, ...]
    #: The hub cache's home, for a hub source.
    hf_home: str | None = None


def fetch_of(
    model_id: str,
    at: str,
    port: int,
    source: WeightSource,
    hf_home: str | None,
    path: str,
    weight_patterns: tuple[str, ...],
) -> Fetch | None:
    """The fetch of a served model: a hub source lands in the hub cache under ``hf_home``
    (None without one: the data's rules say so), a backroom source at ``path``."""
    if isinstance(source, BackroomSource):
        return Fetch(model_id, at, port, source, path, f"{path}.complete", path, weight_patterns)
    if hf_home is None:
        return None
    snapshot = source.snapshot(hf_home)
    mark = source.complete_mark(hf_home)
    return Fetch(model_id, at, port, source, snapshot, mark, path, weight_patterns, hf_home)
