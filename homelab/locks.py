"""Locked requirements: what each virtualenv installs, resolved once and kept in the repo.

A deploy never resolves: it installs the lock, so a rebuild next year installs the same
versions. ``homelab lock`` writes the locks (it needs PyPI); ``homelab lock --check`` and the
fast tests say when one is missing or no longer matches the model.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from homelab import PROJECT_ROOT
from homelab.model import Platform
from homelab.model.common import Toolchain
from homelab.model.weights import FETCHER_CLIENT, FETCHER_INSTALL
from homelab.services import Daemon, daemons
from homelab.services.mcp_tools import SERVICE as MCP_TOOLS
from homelab.services.mcp_tools import TINY_AGENTS, install_of, requirements, tools_on

LOCK_DIR = PROJECT_ROOT / "deploys" / "requirements"
_FROM = "# from: "


@dataclass(frozen=True)
class Lock:
    install: str
    requirements: tuple[str, ...]
    toolchain: Toolchain

    @property
    def path(self) -> Path:
        """Named by what it installs, for where, from which requirements (their hash)."""
        digest = hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()[:8]
        return LOCK_DIR / f"{self.install}-{digest}.{self.toolchain.platform}.txt"

    @property
    def source_line(self) -> str:
        """The line of the lock's header that records what it was resolved from."""
        return _FROM + "; ".join(self.requirements)

    def is_current(self) -> bool:
        return self.path.is_file() and self.source_line in self.path.read_text().splitlines()

    def compile(self, find_links: Iterable[str] = ()) -> None:
        """Resolve with uv for the host's platform and Python (needs the package index).

        The toolchain's find_links come first: the deploy installs from them (CPU torch), so
        the lock must be resolved from them too; ``find_links`` adds more.
        """
        wanted = dict.fromkeys((*self.toolchain.find_links, *find_links))
        links = [arg for link in wanted for arg in ("--find-links", link)]
        result = subprocess.run(
            [
                "uv",
                "pip",
                "compile",
                "-",
                "--python-version",
                self.toolchain.python_version,
                "--python-platform",
                self.toolchain.platform,
                "--no-header",
                "--quiet",
                *links,
            ],
            input="\n".join(self.requirements) + "\n",
            env=self._env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"uv pip compile for {self.path.name} failed:\n{result.stderr}")
        header = (
            f"# {self.install} for {self.toolchain.platform}, Python "
            f"{self.toolchain.python_version}: written by `homelab lock`, installed by the "
            "deploys as is.\n"
            f"{self.source_line}\n"
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(header + result.stdout)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.toolchain.macos_version:
            env["MACOSX_DEPLOYMENT_TARGET"] = self.toolchain.macos_version
        return env


def lock_for(daemon: Daemon) -> Lock:
    return Lock(
        install=daemon.install or daemon.name,
        requirements=daemon.requirements,
        toolchain=daemon.toolchain,
    )


def lock_for_tool(platform: Platform, host: str, tool: str) -> Lock:
    """An MCP tool's venv: the dependencies its package states, for its host."""
    return Lock(
        install=install_of(platform, host, tool).name,
        requirements=requirements(tool),
        toolchain=platform.host(host).toolchain,
    )


def lock_for_tiny_agents(platform: Platform, host: str) -> Lock:
    """Tiny Agents' venv (locked whether it is on or not, like a disabled daemon's)."""
    h = platform.host(host)
    return Lock(
        install=TINY_AGENTS,
        requirements=tools_on(platform, host).tiny_agents.package.requirements(h.system),
        toolchain=h.toolchain,
    )


def lock_for_fetcher(platform: Platform, host: str) -> Lock:
    """The weights fetcher's venv (``deploys/weights.py``): locked for every host, since any
    host's data may name a model from the hub."""
    return Lock(
        install=FETCHER_INSTALL,
        requirements=(FETCHER_CLIENT,),
        toolchain=platform.host(host).toolchain,
    )


def locks(platforms: Iterable[Platform]) -> list[Lock]:
    """Every distinct lock the platforms' daemons and MCP tools install, enabled or not."""
    found: dict[Path, Lock] = {}
    for platform in platforms:
        for host in platform.hosts:
            for daemon in daemons(platform, host):
                if daemon.requirements:
                    lock = lock_for(daemon)
                    found.setdefault(lock.path, lock)
            fetcher = lock_for_fetcher(platform, host)
            found.setdefault(fetcher.path, fetcher)
        for host, mcp in MCP_TOOLS.placed(platform):
            for lock in (
                *(lock_for_tool(platform, host, tool.name) for tool in mcp.tools),
                lock_for_tiny_agents(platform, host),
            ):
                found.setdefault(lock.path, lock)
    return sorted(found.values(), key=lambda lock: lock.path.name)


def stale(current: Iterable[Lock]) -> list[Path]:
    """Lock files no platform installs any more."""
    keep = {lock.path for lock in current}
    return sorted(p for p in LOCK_DIR.glob("*.txt") if p not in keep)


#: How a venv is built from its lock: ``uv`` and these arguments. Part of the venv's name, so
#: a change here builds anew. Bytecode is compiled at install because the venv is read-only to
#: its service (ProtectSystem): otherwise every start recompiles every module it imports, in
#: memory, and a restart after a crash takes seconds longer.
VENV_RECIPE = ("pip", "sync", "--compile-bytecode")


def venv_target(daemon: Daemon) -> str:
    """The venv a daemon's lock (and the recipe) names: ``<opt>/<install>/venvs/<hash>``."""
    return locked_venv_target(lock_for(daemon), daemon.install_dir)


def locked_venv_target(
    lock: Lock, install_dir: str, package: Path | None = None, built: str | None = None
) -> str:
    """``<install_dir>/venvs/<hash>``: the hash of the recipe, the lock, the package and the
    folder of wheels built for it."""
    text = lock.path.read_text()
    recipe = " ".join(("uv", *VENV_RECIPE))
    extra = f"\n{hashlib.sha256(package.read_bytes()).hexdigest()}" if package else ""
    extra += f"\n{built}" if built else ""
    digest = hashlib.sha256(f"{recipe}\n{text}{extra}".encode()).hexdigest()[:16]
    return f"{install_dir}/venvs/{digest}"
