"""MCP tools: each tool installed for its own user, then the registry that names it.

Per tool: a system user, a venv built blue/green from its lock (``homelab lock``) with the
tool's own package (a wheel built here from ``tools/<name>/``) installed ``--no-deps``, its
0600 secrets file (the gateway key, from the host's store) in a folder only its user may enter,
and its env file; Tiny Agents' venv when it is on. Only then the registry (and Tiny Agents'
config), rendered whole from the data: an entry never names a tool that is not installed. A
tool the data no longer names is removed after the registry stops naming it.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import host
from pyinfra.facts.files import Directory
from pyinfra.operations import files, server

from deploys.accounts import system_user
from deploys.files import put
from deploys.installs import locked_venv
from deploys.loops import each
from deploys.secret_files import secrets_file
from deploys.service import Deployer, deploys
from deploys.state import directory
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.locks import lock_for_tiny_agents, lock_for_tool
from homelab.model import Platform
from homelab.services.mcp_tools import (
    TINY_AGENTS,
    TOOL_NAMES,
    Install,
    McpTool,
    McpToolsService,
    agent_dir,
    install_of,
    secrets,
    tools_on,
)

#: Where the tools' wheels are built on the machine that deploys (git ignores it).
WHEELS = PROJECT_ROOT / "build" / "mcp-tools"


#: What a tool's source folder holds that is not its source.
NOT_SOURCE = {"__pycache__", "build", "dist", ".venv"}


def source_digest(package_dir: Path) -> str:
    """sha256 of the tool's source files (their paths and bytes): the wheel's cache key."""
    h = hashlib.sha256()
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if not path.is_file() or NOT_SOURCE & set(rel.parts) or path.suffix == ".pyc":
            continue
        if any(part.endswith(".egg-info") for part in rel.parts):
            continue
        h.update(f"{rel}\0".encode())
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


@cache
def wheel_of(where: Install) -> Path:
    """The tool's package as a wheel, built here only when its source changed.

    Kept by the hash of its source, so a deploy that changes nothing builds nothing (hatchling
    builds reproducibly: the same source gives the same bytes, so the same venv either way).
    """
    cached = WHEELS / f"{where.tool}-{source_digest(where.package_dir)}"
    found = sorted(cached.glob("*.whl"))
    if len(found) == 1:
        return found[0]
    uv = shutil.which("uv")
    if uv is None:
        raise PyinfraError("uv is not on PATH: it builds the MCP tools' wheels")
    # A folder of this run's own, renamed into place: two deploys may build at once.
    WHEELS.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=f"{where.tool}-", dir=WHEELS))
    result = subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(where.package_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(out.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        raise PyinfraError(f"cannot build {where.package_dir}: {result.stderr.strip()}")
    try:
        out.rename(cached)
    except OSError:  # another run put the same wheel there first
        shutil.rmtree(out, ignore_errors=True)
        (wheel,) = cached.glob("*.whl")
        return wheel
    return cached / wheels[0].name


def install_tool(platform: Platform, host: str, tool: McpTool, tools: Tools) -> None:
    where = install_of(platform, host, tool)
    h = platform.host(host)
    system_user(where.user, where.home)
    directory(where.home, where.user, where.user, "0750")
    locked_venv(
        lock_for_tool(platform, host, tool.name),
        where.install_dir,
        where.venv,
        tools,
        package=wheel_of(where),
    )
    # The tool's user reads its secrets file itself (no service manager reads it as root).
    directory(where.config_dir, "root", where.user, "0750")
    secrets_file(where.secrets_env, secrets(platform), h.layout, where.user, where.user, h.os)


def remove_tool(where: Install) -> None:
    """Everything a tool had on the host, once nothing names it (nothing, when it is gone)."""
    if not host.get_fact(Directory, path=where.install_dir):
        return
    q = shlex.quote
    server.shell(
        name=f"Remove the MCP tool {where.tool} (the data names it no more)",
        commands=[
            f"rm -f {q(where.env_file)}",
            f"rm -rf {q(where.config_dir)} {q(where.home)} {q(where.install_dir)}",
            f"if id -u {q(where.user)} >/dev/null 2>&1; then userdel {q(where.user)}; fi",
            f"if getent group {q(where.user)} >/dev/null; then groupdel {q(where.user)}; fi",
        ],
    )


@deploys(McpToolsService)
class McpToolsDeployer(Deployer):
    title = "MCP tools"

    def snapshot_users(self, platform: Platform, host: str) -> tuple[str, ...]:
        """The tools' own accounts, for the deploy's one-round-trip snapshot."""
        return tuple(install_of(platform, host, t).user for t in tools_on(platform, host).tools)

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        """The tools' own paths, for the deploy's one-round-trip snapshot."""
        out: list[str] = []
        for tool in tools_on(platform, host).tools:
            where = install_of(platform, host, tool)
            out += [where.home, where.config_dir, where.secrets_env, f"{where.secrets_env}.names"]
            out += [where.venv, where.install_dir, where.env_file]
        return tuple(out)

    def run(self, platform: Platform, host: str, tools: Tools) -> None:
        mcp = tools_on(platform, host)
        layout = platform.host(host).layout
        for tool in each(mcp.tools):
            install_tool(platform, host, tool, tools)
        if mcp.tiny_agents.enabled:
            locked_venv(
                lock_for_tiny_agents(platform, host),
                layout.install_dir(TINY_AGENTS),
                layout.venv(TINY_AGENTS),
                tools,
            )
        for f in self.service.shared_files(platform, host):
            put(f)
        self.remove(platform, host, keep={tool.name for tool in mcp.tools})

    def absent(self, platform: Platform, host: str) -> None:
        self.remove(platform, host, keep=set())

    def remove(self, platform: Platform, host: str, keep: set[str]) -> None:
        """Tiny Agents when it is off, and every tool the data does not name on ``host``."""
        layout = platform.host(host).layout
        if not tools_on(platform, host).tiny_agents.enabled:
            for path in (agent_dir(platform, host), layout.install_dir(TINY_AGENTS)):
                files.directory(name=f"Remove {path} (Tiny Agents off)", path=path, present=False)
        for name in TOOL_NAMES:
            if name not in keep:
                remove_tool(install_of(platform, host, name))
