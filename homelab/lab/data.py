"""What the lab's group data shares: its tiny models and what a Mac's stand-in is.

Read by ``lab/group_data/all.py`` and by the data files of the hosts the lab adds
(``lab/group_data/hosts/<name>.py``), so a host joins the lab by its inventory entry and that
file alone.
"""

from __future__ import annotations

from typing import Any

from homelab.lab.config import WHEELS

#: Where the lab's hosts keep model files (one showroom storage root for all of them).
MODELS = "/var/lib/homelab-llm/models"
#: The lab hosts' hub cache (weights fetched from the lab's hub land in its ``hub/``).
HF_HOME = "/var/lib/homelab-llm/hf"
#: The lab hosts' backroom storage (models kept, not served).
BACKROOM = "/var/lib/homelab-llm/backroom"
#: The port of the webhook receiver the monitoring lab test runs on the lab's bridge address.
WEBHOOK_PORT = 9099
#: The machine's CPU torch, bind-mounted read-only: the lab's find_links.
TOOLCHAIN = {"find_links": (WHEELS,)}


def tiny(name: str, port: int, tier: str = "team") -> dict[str, Any]:
    """One of the lab's tiny MLX models (made on its host by the lab's MLX substitute)."""
    return dict(
        model_id=f"mlx-{name}",
        repo=f"lab/{name}",
        context_length=2048,
        max_output_tokens=32,
        tier=tier,
        port=port,
    )


def mac_stand_in(host: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    """A Mac's data as the lab runs it: Linux standing in for macOS, the lab's account, hub and
    toolchain, tiny MLX models."""
    mlx = dict(host.get("mlx") or {})
    return {
        **host,
        "system": "linux",
        "stand_in_for": "macos",
        "run_as": "llm",
        "hf_home": HF_HOME,
        "toolchain": TOOLCHAIN,
        "mlx": {
            **mlx,
            "registry_path": f"{MODELS}/registry.json",
            "models_dir": MODELS,
            # A tiny model's weights are 158 kB: room for six, so a day-two test can add one;
            # a set of ten would be refused.
            "memory_budget_gb": 0.001,
            "models": models,
        },
    }
