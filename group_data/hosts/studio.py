"""The Studio (macOS, launchd): MLX servers, OptiLLM local instances, AFM.

A piece of the platform: ``group_data/all.py`` assembles every host's piece and validates the
whole. Each service it runs is placed by its key; nested parts are plain dicts so that the
host's model validates them all at once and reports every problem with its full path
(``studio.mlx.models[1].port``).
"""

from homelab.groupdata import validating
from homelab.model import Host

MODELS = "/Users/thestudio/models"
SEAGATE = "/Volumes/Seagate/models"
FROM_MINI = "the gateway on the Mini calls it"

with validating("studio", top="Host"):
    host = Host(
        system="macos",
        run_as="thestudio",
        hf_home=f"{MODELS}/hf",
        node_exporter=dict(),  # Homebrew's, scraped by the Mini's Prometheus
        mlx=dict(
            listener_reason="the gateway on the Mini calls the MLX servers",
            registry_path=f"{MODELS}/registry.json",
            # Each model's folder under here is named by its id; its hub cache is under hf_home.
            models_dir=f"{MODELS}/mlx",
            # What the served models' weights may hold of the Studio's unified memory, in GB.
            # Stated, not measured: a 64 GB Studio, less what macOS, the KV caches and the
            # other services need. The served set below takes about 18 GB. Set it to the
            # machine's own figure.
            memory_budget_gb=48,
            models=(
                dict(
                    model_id="mlx-qwen2-5-7b-instruct-4bit",
                    repo="mlx-community/Qwen2.5-7B-Instruct-4bit",
                    context_length=32768,
                    port=8100,
                ),
                dict(
                    model_id="mlx-llama-3-2-3b-instruct-4bit",
                    repo="mlx-community/Llama-3.2-3B-Instruct-4bit",
                    context_length=131072,
                    port=8101,
                ),
                dict(
                    model_id="mlx-qwen2-5-coder-14b-instruct-4bit",
                    repo="mlx-community/Qwen2.5-Coder-14B-Instruct-4bit",
                    context_length=32768,
                    port=8102,
                ),
                dict(
                    model_id="mlx-phi-4-mini-instruct-8bit",
                    repo="mlx-community/Phi-4-mini-instruct-8bit",
                    context_length=131072,
                    tier="experimental",
                    port=8120,
                ),
                # Backroom: kept on the Seagate drive, never served, so it gets no handle.
                dict(
                    model_id="mlx-llama-3-3-70b-instruct-4bit",
                    repo="mlx-community/Llama-3.3-70B-Instruct-4bit",
                    source_path=f"{SEAGATE}/mlx/llama-3-3-70b-instruct-4bit",
                    cache_path=f"{SEAGATE}/hf/hub/models--mlx-community--Llama-3.3-70B-Instruct-4bit",
                    context_length=131072,
                ),
            ),
        ),
        # Local inference instances: off until their setup is finalised (seed).
        optillm_local=dict(
            instances=(
                dict(
                    handle="opt-router-high",
                    listener=dict(port=4040, exposure="lan", lan_reason=FROM_MINI),
                    model="Qwen/Qwen2.5-7B-Instruct",
                ),
                dict(
                    handle="opt-router-balanced",
                    listener=dict(port=4041, exposure="lan", lan_reason=FROM_MINI),
                    model="Qwen/Qwen2.5-3B-Instruct",
                ),
                dict(
                    handle="opt-router-fast",
                    listener=dict(port=4042, exposure="lan", lan_reason=FROM_MINI),
                    model="Qwen/Qwen2.5-1.5B-Instruct",
                ),
            ),
        ),
        # Planned, off: placed so that its unit is rendered and kept stopped until wired.
        afm=dict(listener=dict(port=9999, exposure="lan", lan_reason=FROM_MINI)),
        # What runs today, built by hand: one launchd job (/opt/mlx-launch/bin/start.sh) serving
        # the team MLX ports; booted out and disabled before the first MLX server starts.
        takeover=dict(
            launchd_jobs=(
                dict(
                    label="com.bebop.mlx-launch",
                    plist="/Library/LaunchDaemons/com.bebop.mlx-launch.plist",
                    replaced_by=("mlx-8100", "mlx-8101", "mlx-8102"),
                ),
            ),
        ),
    )
