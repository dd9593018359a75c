"""The lab's platform: the real group data, with what the lab has to do differently.

Stated once, here: the real hosts' pieces (the Mini, the Studio) at the lab's addresses; the
Studio runs Linux with systemd, standing in for its Mac (its legacy launchd job becomes a
systemd unit of the same label); three tiny models stand in for the real ones (no model hub
here); torch's CPU wheels come from the machine's wheel folder; ov-server has no GPU; web.fetch
may read pages on the lab's own subnet; Tiny Agents is on; and the lab's substitutes
(``homelab/lab/substitutes``) run where the lab cannot run the real thing: Debian's searx for
SearXNG, a stand-in for ov-server, Open WebUI offline, tiny models made on the host (MLX, and
GGUF for the Mini's llama.cpp server).
Every other host the lab's inventory names joins by its data file, ``hosts/<name>.py`` here.
"""

import os
from pathlib import Path

from homelab.groupdata import host_pieces, inventory_addresses, real_platform, validating
from homelab.lab.config import load_config
from homelab.lab.data import BACKROOM, HF_HOME, MODELS, TOOLCHAIN, WEBHOOK_PORT, mac_stand_in, tiny
from homelab.lab.substitutes import for_lab
from homelab.model import Platform
from homelab.services.mlx import server_name

__all__ = ["platform"]

REAL = Path(__file__).resolve().parents[2] / "group_data"
_addresses = inventory_addresses()
#: The real data's hosts that the lab's inventory names, at the lab's addresses.
_real: Platform = real_platform(
    str(REAL / "all.py"),
    {name: at for name, at in _addresses.items() if (REAL / "hosts" / f"{name}.py").is_file()},
)
#: The hosts the lab adds, each from its data file here.
_added = {
    name: host.model_dump()
    for name, host in host_pieces(__file__, [n for n in _addresses if n not in _real.hosts]).items()
}

#: The lab's MLX servers on the Studio: three tiny models.
_MLX_MODELS = [
    tiny("tiny-llama-a", 8100),
    # Asked right after its server starts (its handle has one server: no gateway probe warms it).
    {**tiny("tiny-llama-b", 8101), "warm": True},
    tiny("tiny-llama-x", 8120, tier="experimental"),
]


def _lab_host(name: str, data: dict[str, object]) -> dict[str, object]:
    """A real host's data as the lab runs it."""
    services = dict(data.pop("services"))  # type: ignore[call-overload]
    data = {**data, **services}
    if data.get("system") == "macos":
        # Its hand-built launchd job, as a systemd unit of its label on the lab's Linux host,
        # serving the lab's MLX ports: taken over by the lab's MLX servers.
        takeover = dict(data["takeover"])  # type: ignore[call-overload]
        takeover["units"] = [
            dict(
                unit=f"{job['label']}.service",
                replaced_by=tuple(server_name(int(str(m["port"]))) for m in _MLX_MODELS),
                user=job["user"],
            )
            for job in takeover["launchd_jobs"]
        ]
        takeover["launchd_jobs"] = []
        data = {**mac_stand_in(data, _MLX_MODELS), "takeover": takeover}
        return data
    data["toolchain"] = {**dict(data["toolchain"]), **TOOLCHAIN}  # type: ignore[call-overload]
    if "litellm" in data:
        # The lab's hosts share this machine's cores: the gateway's workers follow them.
        data["litellm"] = {**data["litellm"], "host_cores": os.cpu_count()}  # type: ignore[dict-item]
    if "mcp_tools" in data:
        mcp = dict(data["mcp_tools"])  # type: ignore[call-overload]
        # web.fetch may read the lab's own pages (private addresses are refused else).
        mcp["tools"] = [
            {**tool, "allow_networks": (str(load_config().subnet),)} for tool in mcp["tools"]
        ]
        # Tiny Agents on: its venv and config, checked by tests/lab/test_tiny_agents.py.
        mcp["tiny_agents"] = {**mcp["tiny_agents"], "enabled": True}
        data["mcp_tools"] = mcp
    if "ov_server" in data:
        data["ov_server"] = {
            **data["ov_server"],  # type: ignore[dict-item]
            # The stand-in's requirements: it has no OpenVINO to load.
            "requirements": ("fastapi==0.165.0", "uvicorn==0.54.0"),
            "device": "CPU",
        }
    return data


_dumped = _real.model_dump()
_hosts = {name: _lab_host(name, host) for name, host in _dumped["hosts"].items()}
if "mini" in _hosts:
    # llama.cpp on the Mini, the Linux box: one tiny GGUF model, two slots.
    _hosts["mini"]["llama_cpp"] = dict(
        models_dir=MODELS,
        # A tiny file is 151 kB: room for six.
        memory_budget_gb=0.001,
        models=[
            dict(
                model_id="gguf-tiny-llama",
                repo="lab/tiny-llama-gguf",
                file="tiny-llama.gguf",
                context_length=2048,
                max_output_tokens=32,
                parallel=2,
                port=8140,
            )
        ],
    )

if "mini" in _hosts:
    # Clients on stable names: a new chat starts on fast, which also writes titles and tags.
    _hosts["mini"]["open_webui"] = {
        **_hosts["mini"]["open_webui"],  # type: ignore[dict-item]
        "default_models": ("fast",),
        "task_model": "fast",
    }

if "mini" in _hosts:
    # Alerts within the lab test's minutes: a 5 s scrape, 20 s before a daemon counts as down,
    # to the webhook receiver the lab test runs on the bridge (tests/lab/test_monitoring.py).
    _hosts["mini"]["monitoring"] = {
        **_hosts["mini"]["monitoring"],  # type: ignore[dict-item]
        "scrape_interval": "5s",
        "probe_timeout": "3s",
        "chat_interval": "1m",
        "chat_timeout": "30s",
        "thresholds": {"down_for": "20s", "chat_failing_for": "2m"},
        "receivers": {"webhook": f"http://{load_config().gateway}:{WEBHOOK_PORT}/alerts"},
        "group_wait": "5s",
        "group_interval": "10s",
        "repeat_interval": "1h",
    }

with validating(top="Platform"):
    _platform = Platform.model_validate(
        {
            **_dumped,
            "addresses": _addresses,
            "storage": [
                dict(name="lab", path=MODELS, showroom=True),
                # The hub cache, where weights fetched from the lab's hub land.
                dict(name="lab-hub-cache", path=HF_HOME, showroom=True),
                # Backroom storage (the spec's Seagate drive): models kept, not served; a
                # model whose source names a folder here is copied to showroom storage.
                dict(name="lab-backroom", path=BACKROOM, showroom=False),
            ],
            "gateway": {
                **_dumped["gateway"],
                "opt_handles": [
                    dict(handle="opt-tiny-best-of", technique="bon", base="mlx-tiny-llama-a")
                ],
                # Stable names: fast spans the Studio and the second Mac (its handle's
                # replicas), deep the OpenVINO server's larger model; fast falls back to deep.
                "aliases": [
                    dict(name="fast", handles=("mlx-tiny-llama-a",)),
                    dict(name="deep", handles=("ov-qwen2-5-3b-instruct-fp16",)),
                ],
                "router": {
                    **_dumped["gateway"]["router"],
                    "fallbacks": [("fast", ("deep",))],
                    # A tiny model answers in well under a second: a server silent for 5 s
                    # is hung, and its request goes to another replica. The gateway probes
                    # each server every 3 s, and one failing a probe leaves its groups until
                    # it passes one; a deployment that fails twice rests 10 s.
                    "server_timeout": 5,
                    "health_check_interval": 3,
                    "allowed_fails": 1,
                    "cooldown_time": 10,
                },
            },
            "hosts": {**_hosts, **_added},
        }
    )
    platform = for_lab(_platform)
