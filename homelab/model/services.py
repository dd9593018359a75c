"""Typed options of each service, beside the facts its generated files depend on."""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from homelab.model.base import (
    AbsPath,
    Exposure,
    Frozen,
    GitSource,
    Listener,
    Name,
    Port,
    SecretRef,
)
from homelab.model.naming import Backend, handle_problems


class Layout(Frozen):
    """Where a host keeps the platform's files. Per-service paths derive from these roots."""

    etc: AbsPath = "/etc/homelab-llm"
    opt: AbsPath = "/opt/homelab-llm"
    state: AbsPath = "/var/lib/homelab-llm"
    secrets: AbsPath = "/etc/homelab-llm/secrets"
    logs: AbsPath = "/var/log/homelab-llm"
    systemd_units: AbsPath = "/etc/systemd/system"
    launchd_daemons: AbsPath = "/Library/LaunchDaemons"
    launchd_prefix: str = "com.homelab-llm"

    def config_dir(self, service: str) -> str:
        return f"{self.etc}/{service}"

    def state_dir(self, service: str) -> str:
        return f"{self.state}/{service}"

    def venv(self, service: str) -> str:
        return f"{self.opt}/{service}/venv"

    def secrets_env(self, service: str) -> str:
        return f"{self.secrets}/{service}.env"


class PythonPackage(Frozen):
    """A service installed from PyPI into its own virtualenv, at a pinned version."""

    requirement: str = Field(description="the top-level requirement, e.g. 'litellm[proxy]'")
    version: str = Field(pattern=r"^\d+(\.\d+)*([a-z0-9.+-]*)$")

    @property
    def pin(self) -> str:
        return f"{self.requirement}=={self.version}"

    @property
    def distribution(self) -> str:
        return self.requirement.split("[", 1)[0]


class Service(Frozen):
    """What every service has: where it listens, who it runs as, whether it is deployed."""

    kind: ClassVar[str]
    listener: Listener
    user: Name
    enabled: bool = True


# --- the Mini -------------------------------------------------------------------------------


class LiteLLM(Service):
    kind: ClassVar[str] = "litellm"
    listener: Listener = Listener(
        port=4000, exposure=Exposure.LAN, lan_reason="the one gateway LAN clients use"
    )
    user: Name = "litellm"
    package: PythonPackage = PythonPackage(requirement="litellm[proxy]", version="1.110.2")
    workers: int = Field(default=1, ge=1, le=32, description="uvicorn workers (--num_workers)")


class OvModel(Frozen):
    """An OpenVINO model served by ov-server; its handle is its base model id."""

    model_id: str
    context_length: int = Field(default=32768, gt=0)

    @model_validator(mode="after")
    def _canonical(self) -> Self:
        problems = handle_problems(self.model_id, Backend.OV)
        if problems:
            raise ValueError("model_id: " + "; ".join(problems))
        return self


class OvServer(Service):
    """The operator's own FastAPI app serving OpenVINO models."""

    kind: ClassVar[str] = "ov-server"
    listener: Listener = Listener(
        port=9000, exposure=Exposure.LAN, lan_reason="maintenance from the LAN (seed)"
    )
    user: Name = "ov-server"
    source: GitSource
    device: Literal["GPU", "CPU", "AUTO", "MULTI:GPU,CPU"] = "GPU"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    env_file: AbsPath = "/etc/homelab-llm/ov-server.env"
    models: tuple[OvModel, ...] = ()
    #: On the real Mini the GPU runtime needs /dev/dri through the render group.
    supplementary_groups: tuple[Name, ...] = ("render",)


class OptillmProxy(Service):
    kind: ClassVar[str] = "optillm"
    listener: Listener = Listener(port=4020)
    user: Name = "optillm"
    package: PythonPackage = PythonPackage(requirement="optillm", version="0.4.0")
    approach: Literal["proxy"] = "proxy"


class Searxng(Service):
    kind: ClassVar[str] = "searxng"
    listener: Listener = Listener(port=8888)
    user: Name = "searxng"
    source: GitSource
    formats: tuple[Literal["html", "json", "csv", "rss"], ...] = ("html", "json")
    limiter: bool = False
    secret_key: SecretRef = SecretRef(env="SEARXNG_SECRET")

    @model_validator(mode="after")
    def _json_on(self) -> Self:
        if "json" not in self.formats:
            raise ValueError(
                "formats: 'json' is missing (rule: the gateway's searxng-search calls "
                "/search?format=json, which SearXNG refuses with 403 unless json is enabled)"
            )
        return self


class OpenWebUI(Service):
    kind: ClassVar[str] = "open-webui"
    listener: Listener = Listener(
        port=3000, exposure=Exposure.LAN, lan_reason="the chat UI LAN users open"
    )
    user: Name = "open-webui"
    package: PythonPackage = PythonPackage(requirement="open-webui", version="0.12.4")
    env_file: AbsPath = "/etc/open-webui/env"
    offline: bool = Field(default=True, description="the host has no internet: no hub downloads")
    secret_key: SecretRef = SecretRef(env="WEBUI_SECRET_KEY")


class McpTool(Frozen):
    """An MCP stdio server listed in the MCP registry (run by an MCP client, not a service)."""

    name: Name
    command: tuple[str, ...] = Field(min_length=1)
    tools: tuple[str, ...] = Field(min_length=1)
    description: str


class MiniHost(Frozen):
    """The Mini: Linux with systemd; the gateway and the services around it."""

    os: Literal["linux"] = "linux"
    layout: Layout = Layout()
    litellm: LiteLLM = LiteLLM()
    ov_server: OvServer
    optillm: OptillmProxy = OptillmProxy()
    searxng: Searxng
    open_webui: OpenWebUI = OpenWebUI()
    mcp_registry_path: AbsPath = "/etc/homelab-llm/mcp-registry.json"
    mcp_tools: tuple[McpTool, ...] = ()

    def services(self) -> tuple[tuple[str, Service], ...]:
        """(field name, service) of each of the Mini's services, in declaration order."""
        return tuple(
            (name, value) for name, value in self if isinstance(value, Service)
        )


# --- the Studio -----------------------------------------------------------------------------

TEAM_PORTS = range(8100, 8120)
EXPERIMENTAL_PORTS = range(8120, 8140)


class StorageRoot(Frozen):
    """A place model files live. Showroom storage is on a host; backroom storage gets no handle."""

    name: Name
    path: AbsPath
    showroom: bool


class MlxModel(Frozen):
    """One entry of the MLX registry: the canonical link from model_id to its files and port."""

    model_id: str = Field(description="canonical id, also the gateway handle: mlx-*")
    repo: str = Field(description="where the weights came from, e.g. mlx-community/...")
    source_path: AbsPath
    cache_path: AbsPath
    context_length: int = Field(gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    tier: Literal["team", "experimental"] = "team"
    port: Port | None = Field(default=None, description="None: stored, not served, no handle")
    trust_remote_code: bool = False
    chat_template: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems = [f"model_id: {p}" for p in handle_problems(self.model_id, Backend.MLX)]
        if self.port is not None:
            allowed = TEAM_PORTS if self.tier == "team" else EXPERIMENTAL_PORTS
            if self.port not in allowed:
                problems.append(
                    f"port: {self.port} is outside the {self.tier} range "
                    f"{allowed.start}-{allowed.stop - 1} (rule: MLX team ports 8100-8119, "
                    "experimental 8120-8139)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MlxServers(Frozen):
    """mlx-lm servers: one port, one model, ports immutable."""

    package: PythonPackage = PythonPackage(requirement="mlx-lm", version="0.32.2")
    registry_path: AbsPath
    models: tuple[MlxModel, ...] = ()

    @property
    def served(self) -> tuple[MlxModel, ...]:
        return tuple(m for m in self.models if m.port is not None)


class OptillmLocal(Frozen):
    """A single-model OptiLLM local-inference instance on the Studio (off by default)."""

    handle: str
    listener: Listener
    model: str = Field(description="the local HF model it loads")
    enabled: bool = False

    @model_validator(mode="after")
    def _canonical(self) -> Self:
        problems = handle_problems(self.handle, Backend.OPT)
        if problems:
            raise ValueError("handle: " + "; ".join(problems))
        return self


class Afm(Frozen):
    """Apple Foundation Models behind an OpenAI-compatible API (planned; off by default)."""

    listener: Listener = Listener(
        port=9999, exposure=Exposure.LAN, lan_reason="the gateway on the Mini calls it"
    )
    enabled: bool = False
    model_ids: tuple[str, ...] = ()
    source: GitSource | None = None
    executable: AbsPath = "/opt/homelab-llm/afm/bin/afm-server"

    @model_validator(mode="after")
    def _wired_when_known(self) -> Self:
        if self.enabled and not self.model_ids:
            raise ValueError(
                "model_ids: AFM is enabled with no model ids (rule: wire AFM only once its "
                "model ids from GET /v1/models are known)"
            )
        problems = [p for m in self.model_ids for p in handle_problems(m, Backend.AFM)]
        if problems:
            raise ValueError("model_ids: " + "; ".join(problems))
        return self


class StudioHost(Frozen):
    """The Studio: macOS with launchd in production (Linux with systemd in the lab)."""

    os: Literal["darwin", "linux"] = "darwin"
    layout: Layout = Layout()
    run_as: Name = Field(description="the account the Studio's model servers run as")
    hf_home: AbsPath
    mlx: MlxServers
    mlx_listener_reason: str = "the gateway on the Mini calls the MLX servers"
    optillm_local: tuple[OptillmLocal, ...] = ()
    optillm_local_package: PythonPackage = PythonPackage(requirement="optillm", version="0.4.0")
    afm: Afm = Afm()

    def mlx_listener(self, model: MlxModel) -> Listener:
        assert model.port is not None
        return Listener(port=model.port, exposure=Exposure.LAN, lan_reason=self.mlx_listener_reason)
