"""Files the operator's other tools read keep the schema those tools expect.

``handles.jsonl`` is checked here against the rules of the operator's own validator, restated in
this file's own code: it mirrors ``scripts/validate_handles.py`` of github
``bebopbabailey/homelab-llm`` at commit ``c86ae88``. ``registry.json`` is checked against the
fields that repository's MLX controller (``platform/ops/scripts/mlxctl``, same commit) reads
from each entry, key by key with ``dict.get``: other keys it passes by.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from homelab.model import Platform
from homelab.render import host_files
from homelab.services import daemon_named
from homelab.services import mlx as mlx_service
from homelab.services.afm import Afm
from homelab.services.mlx import MlxServers
from homelab.services.optillm_local import OptillmLocals
from homelab.services.ov_server import OvServer


def mlx_of(platform: Platform, host: str = "studio") -> MlxServers:
    found = platform.host(host).get(MlxServers)
    assert found is not None, f"{host} serves no MLX model"
    return found


def with_studio(platform: Platform, **changes: Any) -> Platform:
    """The platform with the Studio's data changed (its services by their keys)."""
    studio = platform.host("studio").evolve(**changes)
    return platform.evolve(hosts={**platform.hosts, "studio": studio})


# -- the operator's handle registry rules ---------------------------------------------------

REQUIRED = frozenset({"handle", "kind", "invoke", "managed_by", "endpoint_ref", "selector"})
OPTIONAL = frozenset({"notes"})
KINDS = frozenset({"model", "callable"})
INVOCATIONS = frozenset({"openai-chat", "openai-embeddings", "mcp-tool", "http-get", "http-post"})
MANAGERS = frozenset({"systemd", "launchd", "docker", "manual", "external"})
PLAIN = re.compile(r"^[a-z0-9-]*$")
#: OptiLLM selectors may chain techniques with & and |, and name them with _.
OPTILLM_MODEL = re.compile(r"^[a-z0-9&|_-]*$")


def row_problems(row: Any) -> list[str]:
    """Every rule one parsed line breaks."""
    if not isinstance(row, dict):
        return ["row: not a JSON object"]
    found: list[str] = []
    keys = set(row)
    if keys - REQUIRED - OPTIONAL:
        found.append(f"row: unknown fields {sorted(keys - REQUIRED - OPTIONAL)}")
    if REQUIRED - keys:
        found.append(f"row: fields missing {sorted(REQUIRED - keys)}")
    handle, endpoint = row.get("handle"), row.get("endpoint_ref")
    if not isinstance(handle, str) or not handle:
        found.append("handle: not a non-empty string")
    elif not PLAIN.match(handle):
        found.append(f"handle: {handle!r} is not lowercase letters, digits and dashes")
    for field, allowed in (("kind", KINDS), ("invoke", INVOCATIONS), ("managed_by", MANAGERS)):
        if row.get(field) not in allowed:
            found.append(f"{field}: {row.get(field)!r} not in {sorted(allowed)}")
    if not isinstance(endpoint, str) or not endpoint:
        found.append("endpoint_ref: not a non-empty string")
    selector = row.get("selector")
    if selector is not None and not isinstance(selector, dict):
        found.append("selector: neither null nor an object")
    for key, value in (selector or {}).items() if isinstance(selector, dict) else ():
        if not isinstance(value, str):
            continue
        optillm = (isinstance(handle, str) and handle.startswith("opt-")) or (
            isinstance(endpoint, str) and endpoint.startswith("ep_optillm_proxy")
        )
        pattern = OPTILLM_MODEL if key == "model" and optillm else PLAIN
        if not pattern.match(value):
            found.append(f"selector.{key}: {value!r} has characters the rule forbids")
    if "notes" in row and not isinstance(row["notes"], str):
        found.append("notes: not a string")
    return found


def registry_problems(text: str) -> list[str]:
    """Every rule a whole ``handles.jsonl`` breaks, line by line, duplicates included."""
    found: list[str] = []
    first_of_handle: dict[str, int] = {}
    first_of_target: dict[tuple[object, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            found.append(f"line {number}: not JSON ({error})")
            continue
        found += [f"line {number}: {p}" for p in row_problems(row)]
        if not isinstance(row, dict):
            continue
        handle = row.get("handle")
        if isinstance(handle, str):
            if handle in first_of_handle:
                found.append(f"line {number}: handle {handle!r} also on {first_of_handle[handle]}")
            first_of_handle.setdefault(handle, number)
        selector = json.dumps(row.get("selector"), sort_keys=True, separators=(",", ":"))
        target = (row.get("kind"), row.get("endpoint_ref"), selector)
        if target in first_of_target:
            found.append(f"line {number}: same kind, endpoint and selector as {target}")
        first_of_target.setdefault(target, number)
    return found


def handles_text(platform: Platform) -> str:
    litellm = daemon_named(platform, "mini", "litellm")
    files = {f.path: f for f in host_files(platform, "mini")}
    return files[f"{litellm.config_dir}/handles.jsonl"].content


def test_rendered_handles_pass_the_operators_rules(platform: Platform) -> None:
    text = handles_text(platform)
    assert text.strip(), "no handle rendered"
    assert registry_problems(text) == []


def test_handles_pass_with_every_backend_enabled(platform: Platform) -> None:
    """opt-* handles, local OptiLLM instances and AFM too, not just the shipped ones."""
    studio = platform.host("studio")
    locals_, afm = studio.get(OptillmLocals), studio.get(Afm)
    assert locals_ is not None and afm is not None
    opt_handle = {
        "handle": "opt-best-of",
        "technique": "bon",
        "base": mlx_of(platform).served[0].model_id,
    }
    p = with_studio(
        platform,
        optillm_local=locals_.evolve(
            instances=tuple(o.evolve(enabled=True) for o in locals_.instances)
        ),
        afm=afm.evolve(enabled=True, model_ids=("afm-foundation-base",)),
    )
    p = p.evolve(gateway=p.gateway.evolve(opt_handles=(opt_handle,)))
    rows = [json.loads(line) for line in handles_text(p).splitlines()]
    assert {r["endpoint_ref"].split("_")[1] for r in rows} == {"mlx", "ov", "optillm", "afm"}
    assert registry_problems(handles_text(p)) == []


def test_managed_by_follows_the_host_that_serves_the_model(
    platform: Platform, lab_platform: Platform
) -> None:
    for p, studio_init in ((platform, "launchd"), (lab_platform, "systemd")):
        rows = {r["handle"]: r for r in map(json.loads, handles_text(p).splitlines())}
        for model in mlx_of(p).served:
            row = rows[model.model_id]
            assert row["managed_by"] == studio_init
            assert row["endpoint_ref"] == f"ep_mlx_slot_{model.port}"
            assert row["selector"] == {"model": model.model_id}
        ov_server = p.host("mini").get(OvServer)
        assert ov_server is not None
        for ov in ov_server.models:
            assert rows[ov.model_id]["managed_by"] == "systemd"


@pytest.mark.parametrize(
    ("line", "broken"),
    [
        ('{"handle": "mlx-a", "kind": "model"}', "fields missing"),
        (
            '{"handle": "mlx-a", "kind": "model", "invoke": "openai-chat", "managed_by": '
            '"launchd", "endpoint_ref": "ep_mlx_slot_8100", "selector": null, "backend": "mlx"}',
            "unknown fields",
        ),
        (
            '{"handle": "MLX_A", "kind": "model", "invoke": "openai-chat", "managed_by": '
            '"launchd", "endpoint_ref": "ep", "selector": null}',
            "handle:",
        ),
        (
            '{"handle": "mlx-a", "kind": "model", "invoke": "grpc", "managed_by": '
            '"launchd", "endpoint_ref": "ep", "selector": null}',
            "invoke:",
        ),
        (
            '{"handle": "mlx-a", "kind": "model", "invoke": "openai-chat", "managed_by": '
            '"launchd", "endpoint_ref": "ep", "selector": {"model": "moa&mlx-a"}}',
            "selector.model",
        ),
        (
            '{"handle": "mlx-a", "kind": "model", "invoke": "openai-chat", "managed_by": '
            '"launchd", "endpoint_ref": "", "selector": "mlx-a"}',
            "endpoint_ref",
        ),
    ],
)
def test_the_rules_refuse_what_the_operators_validator_refuses(line: str, broken: str) -> None:
    assert any(broken in p for p in registry_problems(line)), registry_problems(line)


def test_optillm_selectors_may_chain_techniques() -> None:
    row = (
        '{"handle": "opt-a", "kind": "model", "invoke": "openai-chat", "managed_by": '
        '"systemd", "endpoint_ref": "ep_optillm_proxy_4020", "selector": {"model": "moa&bon|x"}}'
    )
    assert registry_problems(row) == []


def test_duplicate_handles_and_targets_are_refused(platform: Platform) -> None:
    line = handles_text(platform).splitlines()[0]
    found = registry_problems(f"{line}\n{line}\n")
    assert any("also on 1" in p for p in found)
    assert any("same kind, endpoint and selector" in p for p in found)


# -- the operator's MLX registry ------------------------------------------------------------

#: What the MLX controller reads from an entry; ``chat_template`` there is a file's path (it
#: becomes --chat-template-file), unlike this platform's template text, so it is never written.
UPSTREAM_ENTRY: dict[str, type | tuple[type, ...]] = {
    "repo_id": str,
    "model_id": str,
    "cache_path": str,
    "source_path": str,
    "format": str,
    "port": (int, type(None)),
    "context_length": int,
    "max_output_tokens": int,
}
#: This platform's own keys: read by no tool of the operator's.
OWN_KEYS = {"tier", "storage", "handle"}
NEVER_WRITTEN = {"chat_template", "tool_call_parser", "reasoning_parser", "og_path"}


def registry(platform: Platform) -> dict[str, Any]:
    files = {f.path: f for f in host_files(platform, "studio")}
    loaded: dict[str, Any] = json.loads(files[mlx_of(platform).registry_path].content)
    return loaded


def test_mlx_registry_has_the_operators_shape(platform: Platform) -> None:
    data = registry(platform)
    assert set(data) == {"version", "models"}
    assert data["version"] == 1
    assert set(data["models"]) == {m.model_id for m in mlx_of(platform).models}
    for key, entry in data["models"].items():
        for field, kind in UPSTREAM_ENTRY.items():
            assert isinstance(entry.get(field), kind), (key, field, entry.get(field))
        assert entry["model_id"] == key
        assert entry["format"] == "mlx"
        assert set(entry) <= set(UPSTREAM_ENTRY) | OWN_KEYS
        assert not set(entry) & NEVER_WRITTEN


def test_mlx_registry_links_ids_to_their_files_and_ports(platform: Platform) -> None:
    entries = registry(platform)["models"]
    for model in mlx_of(platform).models:
        entry = entries[model.model_id]
        assert (entry["repo_id"], entry["port"]) == (model.repo, model.port)
        assert entry["cache_path"] == model.cache_path
        assert entry["max_output_tokens"] <= entry["context_length"]


def test_registry_writes_no_chat_template_even_when_a_model_has_one(platform: Platform) -> None:
    mlx = mlx_of(platform)
    first = mlx.models[0].evolve(chat_template="{{ messages }}")
    p = with_studio(platform, mlx=mlx.evolve(models=(first, *mlx.models[1:])))
    entries = mlx_service.SERVICE.registry(p, "studio")["models"]
    assert isinstance(entries, dict)
    assert "chat_template" not in entries[first.model_id]
