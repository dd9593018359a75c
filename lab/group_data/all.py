"""The lab's platform: the real group data, with what the lab has to do differently.

Stated once, here: the Studio runs Linux with systemd (its legacy launchd job becomes a systemd
unit of the same label); three tiny models stand in for the real ones (no model hub here);
torch's CPU wheels come from the machine's wheel folder; ov-server has no GPU; web.fetch may
read pages on the lab's own subnet; Tiny Agents is on; and the lab's
substitutes (``homelab/lab/substitutes``) run where the lab cannot run the real thing: Debian's
searx for SearXNG, a stand-in for ov-server, Open WebUI offline, tiny models made on the host.
Everything else is the real data, unchanged.
"""

import os
from pathlib import Path

from homelab.groupdata import siblings, validating
from homelab.lab.config import WHEELS, load_config
from homelab.lab.substitutes import for_lab
from homelab.model import Platform

__all__ = ["platform"]

_real: Platform = siblings(
    str(Path(__file__).resolve().parents[2] / "group_data" / "all.py"), "all"
)["all"]["platform"]

MODELS = "/var/lib/homelab-llm/models"
TOOLCHAIN = {"find_links": (WHEELS,)}  # the machine's CPU torch, bind-mounted read-only


def _tiny(name: str, port: int, tier: str = "team") -> dict[str, object]:
    return dict(
        model_id=f"mlx-{name}",
        repo=f"lab/{name}",
        context_length=2048,
        max_output_tokens=32,
        tier=tier,
        port=port,
    )


#: The lab's MLX servers: three tiny models.
_MLX_MODELS = [
    _tiny("tiny-llama-a", 8100),
    _tiny("tiny-llama-b", 8101),
    _tiny("tiny-llama-x", 8120, tier="experimental"),
]

#: The Studio's hand-built launchd job, as a systemd unit of its label on the lab's Linux
#: Studio, serving the lab's MLX ports: taken over by the lab's MLX servers.
_STUDIO_TAKEOVER = {
    **_real.studio.takeover.model_dump(),
    "launchd_jobs": [],
    "units": [
        dict(
            unit=f"{job.label}.service",
            replaced_by=tuple(f"mlx-{m['port']}" for m in _MLX_MODELS),
            user=job.user,
        )
        for job in _real.studio.takeover.launchd_jobs
    ],
}

with validating(top="Platform"):
    _platform = Platform.model_validate(
        {
            **_real.model_dump(),
            "storage": [dict(name="lab", path=MODELS, showroom=True)],
            "gateway": {
                **_real.gateway.model_dump(),
                "opt_handles": [
                    dict(handle="opt-tiny-best-of", technique="bon", base="mlx-tiny-llama-a")
                ],
            },
            "mini": {
                **_real.mini.model_dump(),
                "toolchain": {**_real.mini.toolchain.model_dump(), **TOOLCHAIN},
                # The lab's hosts share this machine's cores: the gateway's workers follow them.
                "litellm": {**_real.mini.litellm.model_dump(), "host_cores": os.cpu_count()},
                # web.fetch may read the lab's own pages (private addresses are refused else).
                "mcp_tools": [
                    {**tool.model_dump(), "allow_networks": (str(load_config().subnet),)}
                    for tool in _real.mini.mcp_tools
                ],
                # Tiny Agents on: its venv and config, checked by tests/lab/test_tiny_agents.py.
                "tiny_agents": {**_real.mini.tiny_agents.model_dump(), "enabled": True},
                "ov_server": {
                    **_real.mini.ov_server.model_dump(),
                    # The stand-in's requirements: it has no OpenVINO to load.
                    "requirements": ("fastapi==0.165.0", "uvicorn==0.54.0"),
                    "device": "CPU",
                },
            },
            "studio": {
                **_real.studio.model_dump(),
                "os": "linux",
                "run_as": "llm",
                "hf_home": "/var/lib/homelab-llm/hf",
                "toolchain": {**_real.mini.toolchain.model_dump(), **TOOLCHAIN},
                "mlx": {
                    **_real.studio.mlx.model_dump(),
                    "registry_path": f"{MODELS}/registry.json",
                    "models_dir": MODELS,
                    # A tiny model's weights are 158 kB: room for six, so a day-two test can
                    # add one; a set of ten would be refused.
                    "memory_budget_gb": 0.001,
                    "models": _MLX_MODELS,
                },
                "takeover": _STUDIO_TAKEOVER,
            },
        }
    )
    platform = for_lab(_platform)
