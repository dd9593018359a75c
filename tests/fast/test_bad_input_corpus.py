"""A corpus of broken group data: each case stops before any host is contacted, naming the field.

Every case copies ``inventory.py`` and ``group_data/`` into a temporary folder, makes one
textual edit to one file and runs ``homelab check`` on the copy: it must exit 2 with a problem
line that starts with the field's path and states the rule. A few representative cases also run
the real deploy entry point (``pyinfra INVENTORY deploys/site.py -y``) on the broken copy, which
must stop while loading the inventory, before ``--> Connecting to hosts...``.

The pyinfra runs never get near the real hosts: their copies point at unroutable test addresses
(10.255.255.0/24) with no connection retries and a one-second connect timeout, and each copy is
checked with ``homelab check`` (and must fail) before pyinfra is started on it.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.cli import main
from tests.fast import forkrun

INVENTORY = "inventory.py"
ALL = "group_data/all.py"
MINI = "group_data/hosts/mini.py"
STUDIO = "group_data/hosts/studio.py"

#: Where a new key goes in each host piece: before a keyword argument the piece always has.
MINI_KEY = "        searxng=dict("
STUDIO_KEY = "        optillm_local=dict("
#: Lines of the shipped host pieces that the cases change in place (a keyword given twice
#: would be a Python mistake, not a data one).
MINI_LITELLM = "        litellm=dict(),"
MINI_OPTILLM = "        optillm=dict(),"
MINI_WEBUI = "        open_webui=dict(),"
MINI_MCP = "        mcp_tools=dict("
STUDIO_AFM = '        afm=dict(listener=dict(port=9999, exposure="lan", lan_reason=FROM_MINI)),'


def _inventory_lines() -> dict[str, str]:
    """Each host's line of the real inventory, read as text: the cases edit copies of it."""
    text = (PROJECT_ROOT / INVENTORY).read_text()
    return {
        name: next(line for line in text.splitlines() if line.strip().startswith(f'("{name}", '))
        for name in ("mini", "studio")
    }


def _group_text() -> str:
    """The inventory's one group, ``homelab = [...]``, as text."""
    text = (PROJECT_ROOT / INVENTORY).read_text()
    found = re.search(r"^homelab = \[\n.*?^\]\n", text, re.M | re.S)
    assert found, "no group 'homelab = [...]' in the inventory"
    return found.group(0)


def _address(line: str) -> str:
    found = re.search(r'"ssh_hostname": "([^"]+)"', line)
    assert found, f"no ssh_hostname in {line!r}"
    return found.group(1)


INVENTORY_LINES = _inventory_lines()
INVENTORY_GROUP = _group_text()
#: The real hosts' addresses, from the inventory; never contacted.
REAL = {role: _address(line) for role, line in INVENTORY_LINES.items()}
#: The unroutable test addresses the pyinfra copies use instead.
REAL_ADDRESSES = {REAL["mini"]: "10.255.255.11", REAL["studio"]: "10.255.255.12"}


@dataclass(frozen=True)
class Case:
    """One broken copy: replace ``old`` (once, and it must occur once) by ``new`` in ``file``."""

    id: str
    file: str
    old: str
    new: str
    field: str  # the path the problem line starts with
    rule: str  # a fragment of the message, on the same line
    pyinfra: bool = False  # also run the deploy entry point on it
    gap: str | None = None  # a validator gap: the case passes today (xfail, strict)


CASES: tuple[Case, ...] = (
    # -- wrong types -------------------------------------------------------------------------
    Case(
        "type-port-word",
        MINI,
        MINI_KEY,
        'searxng=dict(listener=dict(port="eighty"),',
        "mini.searxng.listener.port",
        "Input should be a valid integer",
    ),
    Case(
        "type-port-fraction",
        STUDIO,
        "port=8100,",
        "port=8100.5,",
        "studio.mlx.models[0].port",
        "valid integer",
    ),
    Case(
        "type-context-length-list",
        MINI,
        'dict(model_id="ov-qwen2-5-3b-instruct-fp16", context_length=32768)',
        'dict(model_id="ov-qwen2-5-3b-instruct-fp16", context_length=[32768])',
        "mini.ov_server.models[0].context_length",
        "Input should be a valid integer",
    ),
    Case(
        "type-bool-json-logs",
        ALL,
        "json_logs=True,",
        'json_logs="sometimes",',
        "gateway.json_logs",
        "Input should be a valid boolean",
    ),
    Case(
        "type-bool-json-logs-no",
        ALL,
        "json_logs=True,",
        'json_logs="no",',
        "gateway.json_logs",
        "Input should be a valid boolean (got 'no')",
    ),
    Case(
        "type-bool-route-via-optillm-yes",
        ALL,
        "route_via_optillm=True,",
        'route_via_optillm="yes",',
        "gateway.route_via_optillm",
        "Input should be a valid boolean (got 'yes')",
    ),
    Case(
        "type-bool-enabled-one",
        MINI,
        MINI_MCP,
        MINI_MCP + "tiny_agents=dict(enabled=1),",
        "mini.mcp_tools.tiny_agents.enabled",
        "Input should be a valid boolean (got 1)",
    ),
    Case(
        "type-tools-string-not-tuple",
        MINI,
        'tools=("web.fetch", "search.web")',
        'tools="web.fetch"',
        "mini.mcp_tools.tools[0].tools",
        "Input should be a valid tuple",
    ),
    Case(
        "mcp-tool-not-in-the-project",
        MINI,
        'name="web-fetch",',
        'name="web-scrape",',
        "mini.mcp_tools.tools[0].name",
        "Input should be 'web-fetch'",
    ),
    Case(
        "mcp-allow-network-not-cidr",
        MINI,
        'tools=("web.fetch", "search.web"),',
        'tools=("web.fetch", "search.web"), allow_networks=("lan",),',
        "mini.mcp_tools.tools[0].allow_networks[0]",
        "not a valid IPv4 or IPv6 network",
    ),
    Case(
        "tiny-agents-unknown-handle",
        MINI,
        MINI_MCP,
        MINI_MCP + 'tiny_agents=dict(model="gpt-4o"),',
        "mini.mcp_tools.tiny_agents.model",
        "is neither a handle nor an alias",
    ),
    Case(
        "open-webui-default-model-unknown",
        MINI,
        "open_webui=dict(),",
        'open_webui=dict(default_models=("gpt-4o",)),',
        "mini.open_webui.default_models[0]",
        "is neither a handle nor an alias",
    ),
    Case(
        "open-webui-task-model-unknown",
        MINI,
        "open_webui=dict(),",
        'open_webui=dict(task_model="mlx-gpt-4o"),',
        "mini.open_webui.task_model",
        "is neither a handle nor an alias",
    ),
    Case(
        "type-relative-source-path",
        STUDIO,
        'repo="mlx-community/Qwen2.5-7B-Instruct-4bit",',
        'repo="mlx-community/Qwen2.5-7B-Instruct-4bit",'
        ' source_path="models/qwen2-5-7b-instruct-4bit",',
        "studio.mlx.models[0].source_path",
        "String should match pattern '^/'",
    ),
    Case(
        "type-run-as-not-a-name",
        STUDIO,
        'run_as="thestudio"',
        'run_as="The Studio"',
        "studio.run_as",
        "String should match pattern",
    ),
    Case(
        "type-port-bool",
        MINI,
        MINI_KEY,
        "searxng=dict(listener=dict(port=True),",
        "mini.searxng.listener.port",
        "valid integer",
    ),
    # -- out of range ------------------------------------------------------------------------
    Case(
        "range-port-0",
        MINI,
        MINI_KEY,
        "searxng=dict(listener=dict(port=0),",
        "mini.searxng.listener.port",
        "greater than or equal to 1",
    ),
    Case(
        "range-port-70000",
        STUDIO,
        "port=4040,",
        "port=70000,",
        "studio.optillm_local.instances[0].listener.port",
        "less than or equal to 65535",
    ),
    Case(
        "range-negative-context-length",
        STUDIO,
        "context_length=32768,\n                    port=8100,",
        "context_length=-1,\n                    port=8100,",
        "studio.mlx.models[0].context_length",
        "greater than 0",
    ),
    Case(
        "range-num-retries-11",
        ALL,
        "num_retries=2",
        "num_retries=11",
        "gateway.router.num_retries",
        "less than or equal to 10",
        pyinfra=True,
    ),
    Case(
        "range-litellm-workers-0",
        MINI,
        MINI_LITELLM,
        "        litellm=dict(workers=0),",
        "mini.litellm.workers",
        "greater than or equal to 1",
    ),
    Case(
        "range-mlx-team-port-8125",
        STUDIO,
        "port=8102,",
        "port=8125,",
        "studio.mlx.models[2].port",
        "8125 is outside the team range 8100-8119",
    ),
    Case(
        "range-mlx-experimental-port-8105",
        STUDIO,
        'tier="experimental",\n                    port=8120,',
        'tier="experimental",\n                    port=8105,',
        "studio.mlx.models[3].port",
        "8105 is outside the experimental range 8120-8139",
    ),
    Case(
        "range-mlx-experimental-port-8140",
        STUDIO,
        "port=8120,",
        "port=8140,",
        "studio.mlx.models[3].port",
        "8140 is outside the experimental range 8120-8139",
    ),
    Case(
        "range-optillm-local-port-in-mlx-ranges",
        STUDIO,
        "port=4041,",
        "port=8130,",
        "studio.optillm_local.instances[1].listener.port",
        "8130 lies in the MLX ranges (rule: 8100-8139 belong to MLX servers)",
    ),
    Case(
        "range-llama-cpp-port-in-mlx-ranges",
        STUDIO,
        STUDIO_KEY,
        'llama_cpp=dict(models_dir="/Users/thestudio/models/gguf", models=[dict('
        'model_id="gguf-qwen2-5-0-5b", repo="bartowski/Qwen2.5-0.5B-Instruct-GGUF", '
        'file="Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", context_length=4096, port=8126)]),\n'
        + STUDIO_KEY,
        "studio.llama_cpp.models[0].port",
        "8126 is outside the llama.cpp range (rule: llama.cpp ports 8140-8159)",
    ),
    # -- clashing ports ----------------------------------------------------------------------
    Case(
        "clash-mini-searxng-on-4000",
        MINI,
        MINI_KEY,
        "searxng=dict(listener=dict(port=4000),",
        # The host's daemons in deploy order: SearXNG takes 4000 first, the gateway clashes.
        "mini.litellm.listener.port",
        "4000 is also used by mini.searxng.listener.port",
        pyinfra=True,
    ),
    Case(
        "type-port-as-string-4000",  # ports are strict: a string is a typo, never a port
        MINI,
        MINI_KEY,
        'searxng=dict(listener=dict(port="4000"),',
        "mini.searxng.listener.port",
        "valid integer",
    ),
    Case(
        "clash-mini-open-webui-on-ov-server",
        MINI,
        MINI_WEBUI,
        '        open_webui=dict(listener=dict(port=9000, exposure="lan", lan_reason="LAN")),',
        "mini.open_webui.listener.port",
        "9000 is also used by mini.ov_server.listener.port",
    ),
    Case(
        "clash-studio-optillm-local-on-mlx-port",
        STUDIO,
        'listener=dict(port=4040, exposure="lan", lan_reason=FROM_MINI),',
        'listener=dict(port=8101, exposure="lan", lan_reason=FROM_MINI), enabled=True,',
        # Where a service may be placed is checked first: its port in the MLX ranges is
        # refused as such, before any clash with the MLX server on it.
        "studio.optillm_local.instances[0].listener.port",
        "8101 lies in the MLX ranges (rule: 8100-8139 belong to MLX servers)",
    ),
    Case(
        "clash-studio-afm-on-8100",
        STUDIO,
        STUDIO_AFM,
        '        afm=dict(enabled=True, model_ids=("afm-foundation-3b",), '
        'listener=dict(port=8100, exposure="lan", lan_reason="x")),',
        "studio.afm.listener.port",
        "8100 is also used by studio.mlx.models[0].port",
        pyinfra=True,
    ),
    # -- bad handles -------------------------------------------------------------------------
    Case(
        "handle-duplicate-ov",
        MINI,
        'dict(model_id="ov-qwen2-5-1-5b-instruct-fp16"',
        'dict(model_id="ov-qwen2-5-3b-instruct-fp16"',
        "mini.ov_server.models[1].model_id",
        "is also declared at mini.ov_server.models[0].model_id (rule: handles are unique)",
    ),
    Case(
        "handle-vendor-prefix-openvino",
        MINI,
        'model_id="ov-phi-4-mini-instruct-fp16"',
        'model_id="ov-openvino-phi-4-mini-instruct-fp16"',
        "mini.ov_server.models[2].model_id",
        "no vendor prefixes",
    ),
    Case(
        "handle-vendor-prefix-family",
        STUDIO,
        'model_id="mlx-qwen2-5-7b-instruct-4bit"',
        'model_id="mlx-qwen-qwen2-5-7b-instruct-4bit"',
        "studio.mlx.models[0].model_id",
        "vendor prefix 'qwen'",
    ),
    Case(
        "handle-uppercase",
        STUDIO,
        'model_id="mlx-qwen2-5-7b-instruct-4bit"',
        'model_id="mlx-Qwen2-5-7b-instruct-4bit"',
        "studio.mlx.models[0].model_id",
        "handles are lowercase",
    ),
    Case(
        "handle-underscore",
        MINI,
        'model_id="ov-phi-3-5-mini-instruct-fp16"',
        'model_id="ov-phi-3_5-mini-instruct-fp16"',
        "mini.ov_server.models[3].model_id",
        "is not dash-only",
    ),
    Case(
        "handle-ov-model-with-mlx-prefix",
        MINI,
        'model_id="ov-llama-3-2-3b-instruct-fp16"',
        'model_id="mlx-llama-3-2-3b-instruct-fp16"',
        "mini.ov_server.models[4].model_id",
        "does not start with 'ov-'",
    ),
    Case(
        "handle-opt-technique-prefix",
        STUDIO,
        'handle="opt-router-high"',
        'handle="opt-bon-router-high"',
        "studio.optillm_local.instances[0].handle",
        "carries the technique prefix 'bon'",
    ),
    Case(
        "handle-afm-without-prefix",
        STUDIO,
        STUDIO_AFM,
        STUDIO_AFM.replace("afm=dict(", 'afm=dict(enabled=True, model_ids=("apple-foundation",), '),
        "studio.afm.model_ids",
        "does not start with 'afm-'",
    ),
    # -- routing across hosts ----------------------------------------------------------------
    Case(
        "routing-opt-base-not-served",
        ALL,
        "opt_handles=(),",
        'opt_handles=(dict(handle="opt-reasoner", technique="moa", '
        'base="mlx-llama-3-3-70b-instruct-4bit"),),',
        "gateway.opt_handles[0].base",
        "is not a served MLX handle",
    ),
    Case(
        "routing-fallback-unknown-handle",
        ALL,
        "cooldown_time=30)",
        'cooldown_time=30, fallbacks=(("mlx-qwen2-5-7b-instruct-4bit", ("mlx-gpt-4o",)),))',
        "gateway.router.fallbacks[0]",
        "'mlx-gpt-4o' is not a declared handle",
    ),
    Case(
        "routing-optillm-disabled",
        MINI,
        MINI_OPTILLM,
        "        optillm=dict(enabled=False),",
        "mini.optillm.enabled",
        "need the OptiLLM proxy",
    ),
    Case(
        "routing-afm-without-model-ids",
        STUDIO,
        STUDIO_AFM,
        STUDIO_AFM.replace("afm=dict(", "afm=dict(enabled=True, "),
        "studio.afm.model_ids",
        "AFM is enabled with no model ids",
    ),
    # -- exposure ----------------------------------------------------------------------------
    Case(
        "exposure-unknown-value",
        STUDIO,
        'listener=dict(port=4040, exposure="lan", lan_reason=FROM_MINI)',
        'listener=dict(port=4040, exposure="public", lan_reason=FROM_MINI)',
        "studio.optillm_local.instances[0].listener.exposure",
        "Input should be 'loopback' or 'lan'",
    ),
    Case(
        "exposure-lan-without-reason",
        STUDIO,
        'listener=dict(port=4041, exposure="lan", lan_reason=FROM_MINI)',
        'listener=dict(port=4041, exposure="lan")',
        "studio.optillm_local.instances[1].listener.exposure",
        "LAN-exposed without lan_reason",
    ),
    Case(
        "exposure-loopback-with-reason",
        MINI,
        MINI_WEBUI,
        '        open_webui=dict(listener=dict(port=3000, exposure="loopback",'
        ' lan_reason="LAN users")),',
        "mini.open_webui.listener.lan_reason",
        "lan_reason goes only with exposure 'lan'",
    ),
    Case(
        "enum-unknown-device",
        MINI,
        'device="GPU"',
        'device="gpu"',
        "mini.ov_server.device",
        "Input should be 'GPU', 'CPU', 'AUTO' or 'MULTI:GPU,CPU'",
    ),
    Case(
        "enum-unknown-tier",
        STUDIO,
        'tier="experimental"',
        'tier="prod"',
        "studio.mlx.models[3].tier",
        "Input should be 'team' or 'experimental'",
    ),
    Case(
        "enum-unknown-system",
        STUDIO,
        'system="macos"',
        'system="darwin"',
        "studio.system",
        "Input should be 'linux' or 'macos'",
    ),
    # -- placement: which host runs what -----------------------------------------------------
    Case(
        "system-mlx-on-linux",
        STUDIO,
        'system="macos"',
        'system="linux"',
        "studio.mlx",
        "mlx runs on macos, not linux (rule: a service only on a system it supports",
    ),
    Case(
        "gateway-on-two-hosts",
        STUDIO,
        STUDIO_KEY,
        "        litellm=dict(),\n" + STUDIO_KEY,
        "hosts",
        "2 hosts place litellm (mini, studio) (rule: exactly one gateway)",
    ),
    Case(
        "optillm-away-from-the-gateway",
        STUDIO,
        STUDIO_KEY,
        "        optillm=dict(),\n" + STUDIO_KEY,
        "studio.optillm",
        "it runs on studio, the gateway on mini (rule: OptiLLM listens on loopback",
    ),
    Case(
        "mlx-host-without-run-as",
        STUDIO,
        '        run_as="thestudio",\n',
        "",
        "studio.run_as",
        "missing (rule: a host serving MLX models states the account",
    ),
    Case(
        "clash-studio-mlx-on-a-base-port",
        STUDIO,
        "        takeover=dict(",
        '        base_ports={8101: "a server of its own"},\n        takeover=dict(',
        "studio.mlx.models[1].port",
        "8101 is also used by studio.base_ports (a server of its own)",
    ),
    # -- storage and sources -----------------------------------------------------------------
    Case(
        "storage-backroom-model-served",
        STUDIO,
        'repo="mlx-community/Llama-3.2-3B-Instruct-4bit",',
        'repo="mlx-community/Llama-3.2-3B-Instruct-4bit",'
        ' source_path=f"{SEAGATE}/mlx/llama-3-2-3b-instruct-4bit",',
        "studio.mlx.models[1].port",
        "a model stored only on backroom storage gets no handle",
    ),
    Case(
        "storage-source-path-outside-roots",
        STUDIO,
        'repo="mlx-community/Qwen2.5-7B-Instruct-4bit",',
        'repo="mlx-community/Qwen2.5-7B-Instruct-4bit",'
        ' source_path="/tmp/models/qwen2-5-7b-instruct-4bit",',
        "studio.mlx.models[0].source_path",
        "is under no declared storage root",
    ),
    Case(
        "storage-cache-path-not-the-hubs",
        STUDIO,
        'repo="mlx-community/Qwen2.5-7B-Instruct-4bit",',
        'repo="mlx-community/Qwen2.5-7B-Instruct-4bit",'
        ' cache_path="/Users/thestudio/models/hf/hub/qwen",',
        "studio.mlx.models[0].cache_path",
        "is not the hub's folder for 'mlx-community/Qwen2.5-7B-Instruct-4bit'",
    ),
    Case(
        "source-moving-ref-main",
        MINI,
        'ref="v0.3.0"',
        'ref="main"',
        "mini.ov_server.source",
        "ref: 'main' is a moving branch",
    ),
    Case(
        "source-moving-ref-master",
        MINI,
        'ref="a7281c5ed5d04855b4ee4a3d13033996a83444a4"',
        'ref="master"',
        "mini.searxng.source",
        "ref: 'master' is a moving branch",
    ),
    Case(
        "source-ref-trailing-space",
        MINI,
        'ref="v0.3.0"',
        'ref="v0.3.0 "',
        "mini.ov_server.source",
        "ref: 'v0.3.0 ' has leading or trailing whitespace (rule: a git ref is written exactly",
    ),
    Case(
        "searxng-formats-without-json",
        MINI,
        MINI_KEY,
        'searxng=dict(formats=("html", "rss"),',
        "mini.searxng.formats",
        "'json' is missing",
    ),
    Case(
        "searxng-unknown-format",
        MINI,
        MINI_KEY,
        'searxng=dict(formats=("json", "xml"),',
        "mini.searxng.formats[1]",
        "Input should be 'html', 'json', 'csv' or 'rss'",
    ),
    # -- secrets -----------------------------------------------------------------------------
    Case(
        "secret-literal-proxy-key",
        ALL,
        "json_logs=True,",
        'json_logs=True, proxy_key="sk-live-0123456789abcdef",',
        "gateway.proxy_key",
        "a secret is given as a literal value",
        pyinfra=True,
    ),
    Case(
        "secret-literal-webui-key",
        MINI,
        MINI_WEBUI,
        '        open_webui=dict(secret_key="hunter2"),',
        "mini.open_webui.secret_key",
        "secrets are references 'env:NAME'",
    ),
    Case(
        "secret-ref-lowercase-env",
        ALL,
        "json_logs=True,",
        'json_logs=True, optillm_key="env:optillm_key",',
        "gateway.optillm_key.env",
        "'optillm_key' is not an environment variable name",
    ),
    Case(
        "secret-ref-empty-env",
        MINI,
        MINI_KEY,
        'searxng=dict(secret_key="env:",',
        "mini.searxng.secret_key.env",
        "'' is not an environment variable name",
    ),
    # -- unknown keys, at each level ---------------------------------------------------------
    Case(
        "unknown-key-platform",
        ALL,
        "    gateway=dict(",
        "    storage_roots=(),\n    gateway=dict(",
        "storage_roots",
        "Extra inputs are not permitted",
    ),
    Case(
        "unknown-key-gateway-router",
        ALL,
        "cooldown_time=30)",
        "cooldown_time=30, retry=2)",
        "gateway.router.retry",
        "Extra inputs are not permitted",
    ),
    Case(
        "unknown-key-mini-host",
        MINI,
        MINI_KEY,
        "        webui=dict(),\n" + MINI_KEY,
        "mini.webui",
        "Extra inputs are not permitted",
    ),
    Case(
        "unknown-key-mini-service",
        MINI,
        MINI_KEY,
        "searxng=dict(port=8888,",
        "mini.searxng.port",
        "Extra inputs are not permitted",
    ),
    Case(
        "unknown-key-mlx-model",
        STUDIO,
        "port=8101,",
        'port=8101, quantization="4bit",',
        "studio.mlx.models[1].quantization",
        "Extra inputs are not permitted",
    ),
    # -- the inventory -----------------------------------------------------------------------
    Case(
        "inventory-without-the-gateway-host",
        INVENTORY,
        INVENTORY_LINES["mini"] + "\n",
        "",
        "hosts",
        "0 hosts place litellm (none) (rule: exactly one gateway)",
        pyinfra=True,
    ),
    Case(
        "inventory-empty-group",
        INVENTORY,
        INVENTORY_GROUP,
        "homelab = []\n",
        "inventory",
        "no host (rule: the inventory names every host)",
    ),
    Case(
        "inventory-host-without-data",
        INVENTORY,
        INVENTORY_LINES["studio"],
        INVENTORY_LINES["studio"] + '\n    ("mini2", {"ssh_hostname": "10.255.255.13"}),',
        "hosts.mini2",
        "no data file",
    ),
    Case(
        "address-unspecified-mini",
        INVENTORY,
        REAL["mini"],
        "0.0.0.0",
        "addresses.mini",
        "'0.0.0.0' is not reachable from another host",
    ),
    Case(
        "address-loopback-studio",
        INVENTORY,
        REAL["studio"],
        "127.0.0.1",
        "addresses.studio",
        "'127.0.0.1' is not reachable from another host",
    ),
    Case(
        "address-link-local-studio",
        INVENTORY,
        REAL["studio"],
        "169.254.10.20",
        "addresses.studio",
        "is not reachable from another host",
    ),
    Case(
        "address-not-an-address",
        INVENTORY,
        REAL["mini"],
        "not an address!",
        "addresses.mini",
        "'not an address!' is neither an IP address nor a host name",
    ),
    Case(
        "address-same-for-both",
        INVENTORY,
        REAL["mini"],
        REAL["studio"],
        "addresses",
        "gives two hosts one address (rule: each host has its own address)",
    ),
    Case(
        "address-broadcast",
        INVENTORY,
        REAL["studio"],
        "255.255.255.255",
        "addresses.studio",
        "not reachable from another host",
    ),
    Case(
        "address-localhost-name",
        INVENTORY,
        REAL["studio"],
        "localhost",
        "addresses.studio",
        "loopback, which no other host reaches",
    ),
)


def _param(case: Case) -> object:
    marks = (
        [pytest.mark.xfail(strict=True, reason=f"validator gap: {case.gap}")] if case.gap else []
    )
    return pytest.param(case, id=case.id, marks=marks)


def broken_copy(case: Case, into: Path) -> Path:
    """The inventory and group data copied into ``into``, with ``case``'s edit; the inventory."""
    shutil.copy(PROJECT_ROOT / INVENTORY, into / INVENTORY)
    shutil.copytree(PROJECT_ROOT / "group_data", into / "group_data")
    path = into / case.file
    text = path.read_text()
    assert text.count(case.old) == 1, f"{case.id}: {case.old!r} is not once in the shipped file"
    path.write_text(text.replace(case.old, case.new, 1))
    return into / INVENTORY


def check(inventory: Path) -> tuple[int, str]:
    """``homelab check --inventory INVENTORY``, in process: its exit code and its stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", "--inventory", str(inventory)])
    return code, err.getvalue()


def assert_names_the_field(case: Case, output: str) -> None:
    """One problem line starts with the field's path and states the rule."""
    lines = [line for line in output.splitlines() if line.startswith(f"  - {case.field}")]
    assert lines, f"{case.id}: no problem line starts with {case.field!r}:\n{output}"
    assert any(case.rule in line for line in lines), f"{case.id}: {case.rule!r} not in:\n{output}"


def test_the_corpus_is_wide_enough() -> None:
    failing = [c for c in CASES if c.gap is None]
    assert len(failing) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.file for c in failing} == {INVENTORY, ALL, MINI, STUDIO}
    assert {c.file for c in failing if c.pyinfra} == {INVENTORY, ALL, MINI, STUDIO}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_check_refuses(case: Case, tmp_path: Path) -> None:
    code, err = check(broken_copy(case, tmp_path))
    assert code == 2, f"{case.id}: homelab check passed the broken data\n{err}"
    assert_names_the_field(case, err)


# -- the deploy entry point, on a few cases --------------------------------------------------

PYINFRA_CASES = [c for c in CASES if c.pyinfra]


@dataclass
class PyinfraRun:
    """A broken copy: what ``homelab check`` said first, then the pyinfra run started on it."""

    check_code: int
    check_err: str
    process: forkrun.Run | None


def unroutable(inventory: Path) -> None:
    """Point the copy at test addresses no route leads to; no retries, a short timeout."""
    text = inventory.read_text()
    for real, test in REAL_ADDRESSES.items():
        text = text.replace(real, test)
    text = text.replace('"ssh_user":', '"ssh_connect_retries": 0, "ssh_user":')
    inventory.write_text(text)
    (inventory.parent / "config.py").write_text(
        "from pyinfra import config\n\nconfig.CONNECT_TIMEOUT = 1\n"
    )
    for path in [inventory, *inventory.parent.glob("group_data/*.py")]:
        text = path.read_text()
        assert not [a for a in REAL.values() if a in text], f"{path} still names a real address"


@pytest.fixture(scope="module")
def pyinfra_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PyinfraRun]]:
    """Every pyinfra case started at once (about a second each), only once check refused it."""
    runs: dict[str, PyinfraRun] = {}
    for case in PYINFRA_CASES:
        inventory = broken_copy(case, tmp_path_factory.mktemp(case.id))
        unroutable(inventory)
        code, err = check(inventory)
        process = None
        if code == 2:  # never start pyinfra on data that validates: it would connect
            # ``python -m pyinfra``, forked from an interpreter that has imported it
            process = forkrun.start(
                [
                    str(inventory),
                    "deploys/site.py",
                    "-y",
                    "--config",
                    str(inventory.parent / "config.py"),
                ],
                PROJECT_ROOT,
                combined=True,  # stderr where stdout goes
            )
        runs[case.id] = PyinfraRun(code, err, process)
    yield runs
    for run in runs.values():
        if run.process is not None and run.process.poll() is None:
            run.process.kill()
            run.process.wait()


@pytest.mark.parametrize("case", PYINFRA_CASES, ids=[c.id for c in PYINFRA_CASES])
def test_pyinfra_stops_before_connecting(case: Case, pyinfra_runs: dict[str, PyinfraRun]) -> None:
    run = pyinfra_runs[case.id]
    assert run.check_code == 2, (
        f"{case.id}: homelab check passed it; pyinfra not run\n{run.check_err}"
    )
    assert run.process is not None
    output, _ = run.process.communicate(timeout=120)
    assert run.process.returncode != 0, output
    assert "--> Loading inventory..." in output, output
    assert "Connecting to hosts" not in output, output
    assert "invalid group data" in output, output
    assert_names_the_field(case, output)
