"""MLX servers: one mlx-lm server per served model, one port each, one venv for all, on every
host whose data places them (Macs; Linux hosts standing in for Macs in the lab).

A model served on several hosts is one handle with a deployment on each (replicas): the
gateway's router balances them and routes around a failing one.

The registry (``registry.json``) is the canonical link from a model id to its files, its
context and its port; it belongs to the service, not to any one server.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from homelab.model.base import AbsPath, Bool, Exposure, Frozen, Listener, Port
from homelab.model.common import PythonPackage
from homelab.model.naming import Backend, handle_problems
from homelab.model.routing import Route, max_output_tokens
from homelab.model.service import Served
from homelab.model.weights import (
    Fetch,
    HubSource,
    WeightSource,
    fetch_of,
    hub_folder,
    hub_source,
)
from homelab.render.files import HostFile, json_file
from homelab.services import local_servers
from homelab.services.base import PYTHON_RUNTIME, Daemon, Handle, ServiceModule, common, serve_on
from homelab.services.local_servers import source_problems

if TYPE_CHECKING:
    from homelab.model.platform import Platform

TEAM_PORTS = range(8100, 8120)
EXPERIMENTAL_PORTS = range(8120, 8140)
#: Every port an MLX server may take; nothing else on its host may.
MLX_PORTS = range(TEAM_PORTS.start, EXPERIMENTAL_PORTS.stop)
TIERS = {"team": TEAM_PORTS, "experimental": EXPERIMENTAL_PORTS}


def span(ports: range) -> str:
    return f"{ports.start}-{ports.stop - 1}"


#: The rule every MLX port breaks in the same words.
PORT_RULE = f"rule: MLX team ports {span(TEAM_PORTS)}, experimental {span(EXPERIMENTAL_PORTS)}"


#: mlx_lm.server loads any other model name it is sent (from the hub, if it is not a local
#: path), dropping the one it serves; this name always means the model it was started with.
MLX_SERVED_MODEL = "default_model"

#: What an MLX model's folder needs from its repository: config, tokenizer, weights (and the
#: code of a model with trust_remote_code); not the README, images or other formats.
MLX_FILES = ("*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.jinja", "*.py")

#: The registry's schema version and the weights' format, as the operator's registry has them.
REGISTRY_VERSION = 1
REGISTRY_FORMAT = "mlx"


class MlxModel(Frozen):
    """One entry of the MLX registry: the canonical link from model_id to its files and port.

    ``source_path`` defaults to the model's folder under ``mlx.models_dir`` and ``cache_path``
    to its folder in the hub cache under ``hf_home`` (see :func:`fill_paths`).
    """

    model_id: str = Field(description="canonical id, also the gateway handle: mlx-*")
    repo: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="where the weights came from, e.g. mlx-community/...",
    )
    source_path: AbsPath
    cache_path: AbsPath
    context_length: int = Field(gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    tier: Literal["team", "experimental"] = "team"
    port: Port | None = Field(default=None, description="None: stored, not served, no handle")
    trust_remote_code: Bool = False
    chat_template: str | None = None
    router_limit: local_servers.RouterLimit = None
    warm: local_servers.Warm = False
    source: WeightSource | None = Field(
        default=None,
        description="where the deploy brings the weights from (None: the operator puts them "
        "in source_path): the hub (they land in the hub cache, which source_path then defaults "
        "to) or backroom storage (copied to source_path)",
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems = [f"model_id: {p}" for p in handle_problems(self.model_id, Backend.MLX)]
        if isinstance(self.source, HubSource) and self.source.repo != self.repo:
            problems.append(
                f"source.repo: {self.source.repo!r} is not the model's repo {self.repo!r} "
                "(rule: the registry's repo is where the weights come from)"
            )
        if self.port is not None:
            allowed = TIERS[self.tier]
            if self.port not in allowed:
                problems.append(
                    f"port: {self.port} is outside the {self.tier} range {span(allowed)} "
                    f"({PORT_RULE})"
                )
        if self.max_output_tokens is not None and self.max_output_tokens > self.context_length:
            problems.append(
                f"max_output_tokens: {self.max_output_tokens} is above the context length "
                f"{self.context_length} (rule: a model's output fits in its context)"
            )
        folder = hub_folder(self.repo)
        if posixpath.basename(self.cache_path.rstrip("/")) != folder:
            problems.append(
                f"cache_path: {self.cache_path!r} is not the hub's folder for {self.repo!r} "
                f"(rule: the hub caches {self.repo} in .../hub/{folder})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MlxServers(Frozen):
    """mlx-lm servers: one port, one model, ports immutable."""

    key: ClassVar[str] = "mlx"

    package: PythonPackage = PythonPackage(
        requirement="mlx-lm", version="0.32.2", linux_also=("mlx[cpu]",)
    )
    registry_path: AbsPath
    models_dir: AbsPath = Field(description="where each model's folder is, named by its id")
    models: tuple[MlxModel, ...] = ()
    memory_budget_gb: float | None = Field(
        default=None,
        gt=0,
        description="memory the served models' weights may take together, in GB of 2^30 bytes; "
        "the deploy measures the weights on the host and refuses a set over it (None: no check)",
    )
    listener_reason: str = Field(
        default="the gateway calls the MLX servers", description="why they listen on the LAN"
    )

    @classmethod
    def derive(cls, given: Any, host: dict[str, Any]) -> Any:
        """Its models' paths, derived from its folders and the host's hub cache."""
        return fill_paths(given, host.get("hf_home"))

    def listener(self, model: MlxModel) -> Listener:
        assert model.port is not None
        return Listener(port=model.port, exposure=Exposure.LAN, lan_reason=self.listener_reason)

    @property
    def served(self) -> tuple[MlxModel, ...]:
        return tuple(m for m in self.models if m.port is not None)


def fill_paths(mlx: Any, hf_home: Any) -> Any:
    """Group data's MLX models with their paths derived where the data leaves them out.

    Runs on the raw data, before validation, so a derived path is checked like a written one.
    """
    if not isinstance(mlx, dict) or not isinstance(mlx.get("models"), list | tuple):
        return mlx
    models_dir = mlx.get("models_dir")
    filled = []
    for model in mlx["models"]:
        if isinstance(model, dict):
            model = dict(model)
            name = str(model.get("model_id", "")).removeprefix(f"{Backend.MLX.value}-")
            if "source" in model:
                model["source"] = hub_source(model["source"], model.get("repo"), MLX_FILES)
                source = model["source"]
                if "source_path" not in model and isinstance(hf_home, str):
                    with suppress(ValueError):  # an invalid source is reported by its rules
                        model["source_path"] = HubSource.model_validate(source).snapshot(hf_home)
            if "source_path" not in model and isinstance(models_dir, str):
                model["source_path"] = f"{models_dir}/{name}"
            if "cache_path" not in model and isinstance(hf_home, str) and "repo" in model:
                model["cache_path"] = f"{hf_home}/hub/{hub_folder(str(model['repo']))}"
        filled.append(model)
    return {**mlx, "models": filled}


class MlxService(ServiceModule[MlxServers]):
    name = "mlx"
    options = MlxServers
    systems = frozenset({"macos"})
    systems_why = "mlx needs Apple silicon: macOS, or a Linux host standing in for a Mac"

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        mlx = self.on(platform, host)
        h = platform.host(host)
        if mlx is None or h.run_as is None or h.hf_home is None:
            return ()
        hf = {"HF_HOME": h.hf_home, "HF_HUB_OFFLINE": "1", "HOME": h.layout.state}
        out = []
        for i, model in enumerate(mlx.models):
            if model.port is None:
                continue
            listener = mlx.listener(model)
            argv = [
                f"{h.layout.venv(self.name)}/bin/mlx_lm.server",
                "--model",
                model.source_path,
                *serve_on(listener),
            ]
            if model.trust_remote_code:
                argv.append("--trust-remote-code")
            if model.chat_template:
                argv += ["--chat-template", model.chat_template]
            if model.max_output_tokens:
                argv += ["--max-tokens", str(model.max_output_tokens)]
            out.append(
                Daemon(
                    name=server_name(listener.port),
                    description=f"mlx-lm server for {model.model_id}",
                    user=h.run_as,
                    argv=tuple(argv),
                    listener=listener,
                    where=f"{host}.{self.key}.models[{i}].port",
                    health="/health",
                    install=self.name,
                    requirements=mlx.package.requirements(h.system),
                    environment=hf,
                    relax=PYTHON_RUNTIME,
                    **common(platform, host),
                )
            )
        return tuple(out)

    def deployments(self, platform: Platform) -> Iterator[tuple[str, int, MlxModel]]:
        """(host, index, model) of every served model, host by host."""
        for host, mlx in self.placed(platform):
            for i, model in enumerate(mlx.models):
                if model.port is not None:
                    yield host, i, model

    def weights(self, platform: Platform, host: str) -> dict[str, bool]:
        opts = self.on(platform, host)
        return local_servers.weights(opts.models if opts else ())

    def fetches(self, platform: Platform, host: str) -> tuple[Fetch, ...]:
        """The served models of ``host`` whose weights the deploy brings."""
        mlx, hf_home = self.on(platform, host), platform.host(host).hf_home
        out = []
        for i, m in enumerate(mlx.models if mlx else ()):
            if m.port is None or m.source is None:
                continue
            at = f"{host}.{self.key}.models[{i}]"
            f = fetch_of(
                m.model_id, at, m.port, m.source, hf_home, m.source_path, ("*.safetensors",)
            )
            if f is not None:
                out.append(f)
        return tuple(out)

    def served(self, platform: Platform) -> Iterator[Served]:
        for host, i, model in self.deployments(platform):
            assert model.port is not None
            yield Served(
                host=host,
                at=f"{host}.{self.key}.models[{i}]",
                handle=model.model_id,
                backend=Backend.MLX,
                port=model.port,
                upstream_model=MLX_SERVED_MODEL,
                context_length=model.context_length,
                max_output_tokens=model.max_output_tokens,
                identity=(
                    ("repo", model.repo),
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
        return local_servers.endpoints(platform, self.served(platform), "ep_mlx_slot")

    def placement_problems(self, platform: Platform) -> list[str]:
        problems = []
        for host, _mlx in self.placed(platform):
            h = platform.host(host)
            for field in ("run_as", "hf_home"):
                if getattr(h, field) is None:
                    problems.append(
                        f"{host}.{field}: missing (rule: a host serving MLX models states the "
                        "account its model servers run as and its Hugging Face home)"
                    )
        return problems

    def problems(self, platform: Platform) -> list[str]:
        problems = []
        for host, mlx in self.placed(platform):
            for i, model in enumerate(mlx.models):
                root = platform.storage_of(model.source_path)
                at = f"{host}.{self.key}.models[{i}]"
                problems += source_problems(
                    platform, host, at, model.source, model.source_path, "source_path"
                )
                if root is None:
                    problems.append(
                        f"{at}.source_path: {model.source_path!r} is under no declared storage "
                        "root (rule: every model lives on declared storage)"
                    )
                elif not root.showroom and model.port is not None:
                    problems.append(
                        f"{at}.port: {model.model_id!r} lives on backroom storage {root.name!r} "
                        f"but has port {model.port} (rule: showroom vs backroom: a model stored "
                        "only on backroom storage gets no handle)"
                    )
        return problems + local_servers.replica_problems(self.served(platform))

    def registry(self, platform: Platform, host: str) -> dict[str, object]:
        """``registry.json`` in the operator's schema (``version``, ``models`` keyed by id, each
        with ``repo_id``, ``model_id``, ``cache_path``, ``source_path``, ``format``, ``port``,
        ``context_length``, ``max_output_tokens``). ``tier``, ``storage`` and ``handle`` are
        this platform's own: the operator's tools read entries key by key and pass them by."""
        gw = platform.gateway
        mlx = self.on(platform, host)
        out: dict[str, object] = {}
        for m in mlx.models if mlx else ():
            root = platform.storage_of(m.source_path)
            out[m.model_id] = {
                "repo_id": m.repo,
                "model_id": m.model_id,
                "cache_path": m.cache_path,
                "source_path": m.source_path,
                "format": REGISTRY_FORMAT,
                "port": m.port,
                "context_length": m.context_length,
                "max_output_tokens": max_output_tokens(
                    m.max_output_tokens, m.context_length, gw.default_max_output_tokens
                ),
                "tier": m.tier,
                "storage": root.name if root else None,
                "handle": m.model_id if m.port is not None else None,
            }
        return {"version": REGISTRY_VERSION, "models": out}

    def shared_files(self, platform: Platform, host: str) -> list[HostFile]:
        mlx = self.on(platform, host)
        if mlx is None:
            return []
        return [json_file(mlx.registry_path, self.registry(platform, host))]


def server_name(port: int) -> str:
    """The daemon (and unit) name of the MLX server on ``port``: ``mlx-<port>``."""
    return f"{SERVICE_NAME}-{port}"


SERVICE_NAME = MlxService.name
SERVICE = MlxService()
