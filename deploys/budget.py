"""A set of MLX models that cannot fit a host's memory is refused before anything changes.

A host's budget is a fact of the data (``<host>.mlx.memory_budget_gb``). The deploy
measures each served model's weights on the host (the ``*.safetensors`` of its
``source_path``, every model in one round trip) while it plans, and a set whose sum exceeds
the budget stops the whole run there, naming the models and the figures: no server is stopped,
started or restarted, on any host (the gateway's routes would name the refused set too).
"""

from __future__ import annotations

import shlex

from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.facts import FactBase
from pyinfra.context import host

from homelab.model import Platform
from homelab.services.mlx import MlxModel, MlxServers

#: The budget's unit: a GB of memory as macOS counts it.
GB = 2**30


class WeightBytes(FactBase[dict[str, int]]):
    """Bytes of the ``*.safetensors`` in each folder (0: none there), one command for all."""

    default = dict

    def command(self, folders: tuple[str, ...], total_bytes: str) -> str:
        total = total_bytes.format(files='"$d"/*.safetensors')
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


def over_budget(
    host: str, models: tuple[MlxModel, ...], sizes: dict[str, int], budget_gb: float
) -> str | None:
    """Why ``models`` cannot be served together within ``budget_gb``; None when they can."""
    total = sum(sizes.get(m.source_path, 0) for m in models)
    budget = budget_gb * GB
    if total <= budget:
        return None
    each = ", ".join(
        f"{m.model_id} {size(sizes.get(m.source_path, 0))}"
        for m in sorted(models, key=lambda m: -sizes.get(m.source_path, 0))
    )
    return (
        f"{host}: the served MLX models' weights take {size(total)}, over the memory budget of "
        f"{size(budget)} ({host}.mlx.memory_budget_gb = {budget_gb:g}): {each}; "
        "refused before anything was stopped or started"
    )


def refuse_what_cannot_fit(platform: Platform, role: str, mlx: MlxServers) -> None:
    """Stop the run, while it plans, when a host's served models exceed its budget."""
    if mlx.memory_budget_gb is None or not mlx.served:
        return
    folders = tuple(m.source_path for m in mlx.served)
    total_bytes = platform.host(role).os.total_bytes
    sizes = host.get_fact(WeightBytes, folders=folders, total_bytes=total_bytes)
    problem = over_budget(role, mlx.served, sizes, mlx.memory_budget_gb)
    if problem is not None:
        raise PyinfraError(problem)
