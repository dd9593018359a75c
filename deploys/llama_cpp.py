"""llama.cpp servers: the server built once per set of inputs, one venv for all, one daemon
per served GGUF model.

The build (``pip wheel`` of the package's source, minutes of C++) goes into a folder of the
host's wheel cache named by its inputs: the lock, the builder, the CMake flags, the platform
(``LlamaCppServers.build_key``). A folder that is complete is never built again; a failed
build leaves no complete folder and no new venv, so the running servers keep the venv they
have. The venv is built from that folder alone (``--no-build``) and is switched to blue/green.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from io import StringIO

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, server

from deploys.accounts import service_account
from deploys.budget import ONE_FILE, Budget, refuse_over_budget
from deploys.files import put
from deploys.installs import locked_venv
from deploys.loops import each
from deploys.service import Deployer, ServiceDeploy, deploys
from deploys.state import directory, exists
from deploys.toolchain import Tools, build_tools, debian_packages, tools_for
from deploys.weights import fetch, refuse_unfetchable
from homelab.locks import Lock, lock_for
from homelab.model import Platform
from homelab.services.llama_cpp import (
    LINK_LIBRARIES,
    PACKAGE,
    RUNTIME_DEBIAN,
    LlamaCppServers,
    LlamaCppService,
    server_in_venv,
)


def built_dir(opts: LlamaCppServers, lock: Lock, tools: Tools) -> str:
    """The wheel cache's folder for this build's inputs."""
    key = opts.build_key(lock.path.read_text(), lock.toolchain.platform)
    return f"{tools.wheels}/{PACKAGE}-{key}"


def build_commands(opts: LlamaCppServers, tools: Tools, part: str) -> list[str]:
    """``pip wheel`` of the lock at ``<part>/requirements.txt`` into ``part``, the package from
    its source: what the deploy runs, and the benchmark times."""
    env = " ".join(
        (
            tools.uv_env,
            f"CMAKE_ARGS={shlex.quote(' '.join(opts.cmake_args))}",
            # The package builds with "-j" and this: empty would mean no limit at all.
            'LLAMA_CPP_BUILD_JOBS="$(getconf _NPROCESSORS_ONLN)"',
        )
    )
    return [
        f"{env} {tools.uv} tool run --python {tools.python} --from {opts.builder.pin} "
        f"pip wheel --no-deps --no-cache-dir --no-binary {PACKAGE} "
        f"--wheel-dir {part} --requirement {part}/requirements.txt",
        f"touch {part}/.complete",
    ]


def build_wheel(opts: LlamaCppServers, lock: Lock, tools: Tools, system: str) -> None:
    """The build into ``<built>.part``, renamed when it is whole."""
    built = built_dir(opts, lock, tools)
    if exists(f"{built}/.complete"):
        return
    build_tools(system)
    part = f"{built}.part"
    files.directory(name=f"Wheel cache {tools.wheels}", path=tools.wheels, mode="0755")
    server.shell(name=f"Clear {part}", commands=[f"rm -rf {part}", f"mkdir -p {part}"])
    files.put(
        name=f"Lock {lock.path.name} for the build",
        src=StringIO(lock.path.read_text()),
        dest=f"{part}/requirements.txt",
        mode="0644",
    )
    server.shell(
        name=f"Build {opts.package.pin} (llama.cpp's server) into {built}",
        commands=[*build_commands(opts, tools, part), f"rm -rf {built}", f"mv {part} {built}"],
    )


@deploys(LlamaCppService)
class LlamaCppDeployer(Deployer):
    """The shared install (account, built wheel, venv, models folder, registry), then each
    server. A server restarts only on a change of its own inputs: its unit, the shared venv,
    the account, its own model's file; ``registry.json`` is read by no server."""

    title = "llama.cpp servers"
    service: LlamaCppService

    def options(self, platform: Platform, host: str) -> LlamaCppServers:
        opts = self.service.on(platform, host)
        assert opts is not None
        return opts

    def owner(self, platform: Platform, host: str) -> str:
        return self.service.user(platform, host)

    def group(self, platform: Platform, host: str) -> str:
        return platform.host(host).os.staff_group or self.owner(platform, host)

    def refuse(self, platform: Platform, host: str) -> None:
        opts = self.service.on(platform, host)
        if opts is None:
            return
        # Files to come from the hub: can they come, do they fit the disk (sizes before bytes)?
        coming = refuse_unfetchable(platform, host, self.service.fetches(platform, host))
        if opts.memory_budget_gb is None:
            return
        models = tuple((m.model_id, m.path) for m in opts.served)
        budget = Budget(host, opts.key, "GGUF", models, opts.memory_budget_gb, ONE_FILE)
        refuse_over_budget(platform, budget, coming)

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        servers = self.service.daemons(platform, host)
        if not servers:
            return ()
        h = platform.host(host)
        tools = tools_for(h.layout, h.toolchain, h.system)
        built = built_dir(self.options(platform, host), lock_for(servers[0]), tools)
        marks = tuple(f.complete_mark for f in self.service.fetches(platform, host))
        return (f"{built}/.complete", servers[0].venv, *marks)

    def run(self, platform: Platform, host: str, tools: Tools) -> None:
        shared = self.install(platform, host, tools)
        self.servers(platform, host, tools, shared, self.fetched(platform, host, tools))

    def fetched(
        self, platform: Platform, host: str, tools: Tools
    ) -> dict[int, list[OperationMeta]]:
        """The files the hub brings, before their servers start, by port."""
        owner, group = self.owner(platform, host), self.group(platform, host)
        return fetch(platform, host, self.service.fetches(platform, host), owner, group, tools)

    def install(self, platform: Platform, host: str, tools: Tools) -> list[OperationMeta]:
        """What the servers share: the account, the built server, the venv, the models folder."""
        servers = self.service.daemons(platform, host)
        if not servers:
            return []
        first = servers[0]
        opts = self.options(platform, host)
        lock = lock_for(first)
        system = platform.host(host).system
        shared = service_account(first, home=platform.host(host).layout.state)
        # What the built server loads at run time, whether this deploy builds it or not (a
        # host rebuilt from nothing takes the wheel from the cache and gets no compiler).
        shared += debian_packages("llama.cpp's run-time libraries", RUNTIME_DEBIAN, system)
        build_wheel(opts, lock, tools, system)
        shared += locked_venv(
            lock,
            first.install_dir,
            first.venv,
            tools,
            built=built_dir(opts, lock, tools),
            finish=(
                f'"$VENV/bin/python" -c {shlex.quote(LINK_LIBRARIES)}',
                # The server runs before the venv counts: a build that cannot start fails here.
                f'"$VENV/{server_in_venv(lock.toolchain.python_version)}" --version',
            ),
        )
        directory(opts.models_dir, self.owner(platform, host), self.group(platform, host), "0755")
        return shared

    def servers(
        self,
        platform: Platform,
        host: str,
        tools: Tools,
        shared: list[OperationMeta],
        own: Mapping[int, list[OperationMeta]] | None = None,
    ) -> None:
        """The registry, then each server; ``own`` holds a server's own changes, by its port."""
        for f in self.service.shared_files(platform, host):
            put(f)
        for daemon in each(self.service.daemons(platform, host)):
            changes = [*shared, *(own or {}).get(daemon.listener.port, [])]
            ServiceDeploy(platform, self.service, daemon, tools, shared=changes).run_configured()
