"""llama.cpp's figures on the lab: its server's build cold and warm, and its start.

- cold: the deploy's build commands (``deploys.llama_cpp.build_commands``) into a scratch
  folder of the host's wheel cache, as a host with no wheel for these inputs runs them;
- warm: what a deploy runs when the wheel for its inputs is there: the venv from that wheel
  alone (``deploys.installs.venv_commands``), into a scratch venv; nothing is compiled;
- start: ``systemctl restart`` of the first server to its ``/health`` answering 200.

The scratch folders are removed after; the deployed venv, wheel and servers are not touched
(but for the one restart).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from bench.lab import Lab
from deploys.installs import venv_commands
from deploys.llama_cpp import build_commands, built_dir
from deploys.toolchain import Tools, tools_for
from homelab.lab.config import LabConfig
from homelab.locks import lock_for
from homelab.model import Platform
from homelab.services.base import Daemon
from homelab.services.llama_cpp import LlamaCppServers


@dataclass(frozen=True)
class Timings:
    host: str
    cold_build_s: float
    warm_install_s: float
    start_s: float


def first_server(platform: Platform) -> tuple[str, Daemon, LlamaCppServers] | None:
    module = platform.module("llama-cpp")
    for host, opts in module.placed(platform):
        servers = module.daemons(platform, host)
        if servers:
            return host, servers[0], opts
    return None


def host_tools(config: LabConfig, platform: Platform, host: str) -> Tools:
    h = platform.host(host)
    index = list(platform.hosts).index(host)
    return tools_for(h.layout, h.toolchain, h.system, config.inventory_data(host, index))


def timed(lab: Lab, host: str, commands: list[str], timeout: float) -> float:
    script = " && ".join(f"( {c} )" for c in commands)
    started = time.monotonic()
    lab.sh(host, script, timeout=timeout)
    return time.monotonic() - started


def measure(lab: Lab, platform: Platform, cold: bool = True) -> Timings | None:
    found = first_server(platform)
    if found is None:
        return None
    host, daemon, opts = found
    tools = host_tools(lab.config, platform, host)
    lock = lock_for(daemon)
    q = shlex.quote
    scratch = f"{tools.wheels}/bench-{int(time.time())}"
    lab.sh(host, f"mkdir -p {scratch}/build")
    lab.put(host, f"{scratch}/build/requirements.txt", lock.path.read_text())
    try:
        cold_s = (
            timed(lab, host, build_commands(opts, tools, f"{scratch}/build"), timeout=3600)
            if cold
            else float("nan")
        )
        venv = f"{scratch}/venv"
        lab.put(host, f"{venv}.requirements.txt", lock.path.read_text())
        warm_s = timed(
            lab, host, venv_commands(venv, tools, built_dir(opts, lock, tools)), timeout=600
        )
    finally:
        lab.sh(host, f"rm -rf {q(scratch)}")
    unit = daemon.unit
    health = f"http://127.0.0.1:{daemon.listener.port}{daemon.health}"
    started = time.monotonic()
    lab.sh(
        host,
        f"systemctl restart {q(unit)} && for i in $(seq 600); do "
        f"curl -fsS -o /dev/null {q(health)} && exit 0; sleep 0.05; done; exit 1",
        timeout=60,
    )
    return Timings(host, cold_s, warm_s, time.monotonic() - started)
