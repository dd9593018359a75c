"""Check LiteLLM proxy configs with the installed LiteLLM's own loader, before they are used.

LiteLLM is lenient where a gateway should not be: an unset ``os.environ/`` reference becomes
None and fails only at the first request, a bad model entry is logged and dropped, unknown
keys are ignored. This loads each config the way the proxy does and refuses all of those.

Usage: ``python check_litellm_config.py [--env-file FILE ...] CONFIG [CONFIG ...]`` with the
variables the config references in the environment or in the env files (systemd's
``EnvironmentFile=`` lines, as the service gets them). Prints one line per problem; exits 1
when there is any.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import logging

import yaml
from litellm.proxy.proxy_server import ProxyConfig

# The loader logs every model it reads; only the problems below matter here.
for _name in ("LiteLLM", "LiteLLM Proxy", "LiteLLM Router"):
    logging.getLogger(_name).setLevel(logging.ERROR)

#: Top-level sections the proxy reads; anything else is silently ignored by it.
SECTIONS = {
    "model_list",
    "router_settings",
    "litellm_settings",
    "general_settings",
    "search_tools",
    "environment_variables",
    "mcp_servers",
    "guardrails",
}


def problems(path: Path) -> list[str]:
    text = path.read_text()
    raw: dict[str, Any] = yaml.safe_load(text) or {}
    found = [f"{path}: unknown top-level key {key!r}" for key in raw if key not in SECTIONS]
    for name in sorted(set(re.findall(r"os\.environ/([A-Za-z0-9_]+)", text))):
        if not os.environ.get(name):
            found.append(f"{path}: os.environ/{name} is referenced but not set")
    if "master_key" in (raw.get("litellm_settings") or {}):
        found.append(f"{path}: master_key under litellm_settings is ignored (general_settings)")
    try:
        router, _deployments, _settings = asyncio.run(
            ProxyConfig().load_config(router=None, config_file_path=str(path))
        )
    except Exception as error:  # the loader's own refusal, whatever its type
        return [*found, f"{path}: LiteLLM refused it: {type(error).__name__}: {error}"]
    declared = [entry.get("model_name") for entry in raw.get("model_list") or []]
    loaded = [m["model_name"] for m in router.get_model_list()] if router else []
    for name in declared:
        if name not in loaded:
            found.append(f"{path}: model {name!r} was dropped by LiteLLM's router")
    for model in router.get_model_list() if router else []:
        for key, value in model["litellm_params"].items():
            if value is None and key in {"model", "api_base", "api_key"}:
                found.append(f"{path}: {model['model_name']}: litellm_params.{key} is empty")
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines the way systemd reads them: comments skipped, one quote pair off."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def main(argv: list[str]) -> int:
    paths: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--env-file":
            os.environ.update(read_env_file(Path(next(args))))
        else:
            paths.append(arg)
    if not paths:
        print("usage: check_litellm_config.py [--env-file FILE ...] CONFIG [CONFIG ...]")
        return 2
    found = [p for path in paths for p in problems(Path(path))]
    for line in found:
        print(line)
    if not found:
        print(f"ok: {len(paths)} config(s) accepted by LiteLLM")
    return 1 if found else 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    # The interpreter's teardown of LiteLLM's proxy modules takes seconds; nothing here holds
    # state to clean up, so the process ends without it.
    os._exit(code)
