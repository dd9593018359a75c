"""The MLX registry.json: the canonical link from model_id to its files, context and port."""

from __future__ import annotations

from homelab.model import Platform
from homelab.render.files import HostFile, json_file


def registry(platform: Platform) -> dict[str, object]:
    gw = platform.gateway
    out: dict[str, object] = {}
    for m in platform.studio.mlx.models:
        root = platform.storage_of(m.source_path)
        out[m.model_id] = {
            "repo": m.repo,
            "source_path": m.source_path,
            "cache_path": m.cache_path,
            "context_length": m.context_length,
            "max_output_tokens": m.max_output_tokens or gw.default_max_output_tokens,
            "tier": m.tier,
            "port": m.port,
            "storage": root.name if root else None,
            "handle": m.model_id if m.port is not None else None,
        }
    return {"models": out}


def files(platform: Platform) -> list[HostFile]:
    return [json_file(platform.studio.mlx.registry_path, registry(platform))]
