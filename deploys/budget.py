"""A set of models that cannot fit a host's memory is refused before anything changes.

A host's budget is a fact of the data (``<host>.mlx.memory_budget_gb``,
``<host>.llama_cpp.memory_budget_gb``). The deploy measures each served model's weights on the
host (the ``*.safetensors`` of an MLX model's ``source_path``, a GGUF model's file, every model
in one round trip) while it plans, and a set whose sum exceeds
the budget stops the whole run there, naming the models and the figures: no server is stopped,
started or restarted, on any host (the gateway's routes would name the refused set too).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.facts import FactBase
from pyinfra.context import host

from homelab.model import Platform
from homelab.services.mlx import MlxServers

#: The budget's unit: a GB of memory as macOS counts it.
GB = 2**30


#: The weights of a model at ``"$d"``: an MLX folder's safetensors, or a GGUF file itself.
SAFETENSORS = '"$d"/*.safetensors'
ONE_FILE = '"$d"'


class WeightBytes(FactBase[dict[str, int]]):
    """Bytes of the weights at each path (0: none there), one command for all."""

    default = dict

    def command(self, folders: tuple[str, ...], total_bytes: str, files: str = SAFETENSORS) -> str:
        total = total_bytes.format(files=files)
        words = " ".join(shlex.quote(f) for f in folders)
        return f'for d in {words}; do printf \'%s\\t%s\\n\' "$({total})" "$d"; done'

    def process(self, output: list[str]) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for line in output:
            size, _, folder = line.partition("\t")
            if folder:
                sizes[folder] = int(size) if size.strip().isdigit() else 0
        return sizes


def size(n: float) -> str:
    """A byte count for people: 4.3 GB, 158 kB."""
    for unit, factor in (("GB", GB), ("MB", 2**20), ("kB", 2**10)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class Budget:
    """One backend's served models on one host, by (model id, weights path), and its limit."""

    host: str
    #: The data's key of the backend's options (``mlx``), and what its models are called.
    key: str
    what: str
    models: tuple[tuple[str, str], ...]
    budget_gb: float
    files: str = SAFETENSORS


def over_budget(budget: Budget, sizes: dict[str, int]) -> str | None:
    """Why the models cannot be served together within the budget; None when they can."""
    total = sum(sizes.get(path, 0) for _, path in budget.models)
    limit = budget.budget_gb * GB
    if total <= limit:
        return None
    each = ", ".join(
        f"{model_id} {size(sizes.get(path, 0))}"
        for model_id, path in sorted(budget.models, key=lambda m: -sizes.get(m[1], 0))
    )
    return (
        f"{budget.host}: the served {budget.what} models' weights take {size(total)}, over the "
        f"memory budget of {size(limit)} ({budget.host}.{budget.key}.memory_budget_gb = "
        f"{budget.budget_gb:g}): {each}; refused before anything was stopped or started"
    )


def refuse_over_budget(
    platform: Platform, budget: Budget | None, coming: Mapping[str, int] | None = None
) -> None:
    """Stop the run, while it plans, when a host's served models exceed its budget.

    ``coming``: the weights' bytes of models not on the host yet, by path, as the hub states
    them (``deploys/weights.py``): a set over the budget is refused before any download."""
    if budget is None or not budget.models:
        return
    total_bytes = platform.host(budget.host).os.total_bytes
    folders = tuple(path for _, path in budget.models)
    sizes = host.get_fact(WeightBytes, folders=folders, total_bytes=total_bytes, files=budget.files)
    for path, n in (coming or {}).items():
        sizes[path] = max(sizes.get(path, 0), n)
    problem = over_budget(budget, sizes)
    if problem is not None:
        raise PyinfraError(problem)


def mlx_budget(role: str, mlx: MlxServers) -> Budget | None:
    if mlx.memory_budget_gb is None:
        return None
    models = tuple((m.model_id, m.source_path) for m in mlx.served)
    return Budget(role, mlx.key, "MLX", models, mlx.memory_budget_gb)


def refuse_what_cannot_fit(
    platform: Platform, role: str, mlx: MlxServers, coming: Mapping[str, int] | None = None
) -> None:
    """An MLX host's budget: the safetensors of its served models' folders."""
    refuse_over_budget(platform, mlx_budget(role, mlx), coming)
