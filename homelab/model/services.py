"""Typed options of each service, beside the facts its generated files depend on."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self

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
    Source,
    SourceOrPackage,
)
from homelab.model.naming import Backend, handle_problems


class Layout(Frozen):
    """Where a host keeps the platform's files. Per-service paths derive from these roots."""

    etc: AbsPath = "/etc/homelab-llm"
    opt: AbsPath = "/opt/homelab-llm"
    state: AbsPath = "/var/lib/homelab-llm"
    secrets: AbsPath = "/etc/homelab-llm/secrets"
    logs: AbsPath = "/var/log/homelab-llm"
    backups: AbsPath = "/var/lib/homelab-llm/backups"
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

    def backup_dir(self, service: str) -> str:
        return f"{self.backups}/{service}"

    @property
    def secret_store(self) -> str:
        """One root-only file per secret, generated once on the host."""
        return f"{self.secrets}/store"


class PythonPackage(Frozen):
    """A service installed from PyPI into its own virtualenv, at a pinned version.

    The deploy installs the lock compiled from these (``deploys/requirements/``), never a
    fresh resolution, so a rebuild next year installs the same versions.
    """

    requirement: str = Field(description="the top-level requirement, e.g. 'litellm[proxy]'")
    version: str = Field(pattern=r"^\d+(\.\d+)*([a-z0-9.+-]*)$")
    also: tuple[str, ...] = Field(default=(), description="more top-level requirements")
    linux_also: tuple[str, ...] = Field(default=(), description="more, on Linux only")

    @property
    def pin(self) -> str:
        return f"{self.requirement}=={self.version}"

    def requirements(self, os: str) -> tuple[str, ...]:
        return (self.pin, *self.also, *(self.linux_also if os == "linux" else ()))

    @property
    def distribution(self) -> str:
        return self.requirement.split("[", 1)[0]


class Toolchain(Frozen):
    """How a host builds virtualenvs: uv at a pinned version, the host's own Python."""

    uv: PythonPackage = PythonPackage(requirement="uv", version="0.13.9")
    python: AbsPath = Field(default="/usr/bin/python3", description="interpreter of every venv")
    python_version: str = Field(default="3.11", pattern=r"^3\.\d+$")
    platform: str = Field(
        default="x86_64-manylinux_2_36",
        description="uv's --python-platform for the locks (Debian 12: glibc 2.36)",
    )
    find_links: tuple[str, ...] = Field(
        default=("https://download.pytorch.org/whl/cpu/torch/",),
        description="where CPU builds of torch come from (PyPI's are CUDA builds)",
    )
    macos_version: str | None = Field(
        default=None, description="the macOS release wheels must suit (MACOSX_DEPLOYMENT_TARGET)"
    )


#: On Linux, torch comes as its CPU build (found through the toolchain's find_links): the
#: platform has no CUDA, and PyPI's default build drags in gigabytes of CUDA libraries.
CPU_TORCH = "torch==2.13.0"


class Service(Frozen):
    """What every service has: where it listens, who it runs as, whether it is deployed."""

    kind: ClassVar[str]
    listener: Listener
    user: Name
    enabled: bool = True


# --- the Mini -------------------------------------------------------------------------------


#: LiteLLM 1.110.2's ``[proxy]`` extra, less the packages PyPI does not carry at the versions
#: that extra names (litellm-proxy; litellm-proxy-extras and litellm-enterprise post-releases):
#: the proxy itself ships inside the litellm wheel.
LITELLM_PROXY_EXTRA = (
    "gunicorn>=23.0.0,<24.0",
    "uvicorn>=0.33.0,<1.0",
    "granian>=2.7.4,<3.0",
    "uvloop>=0.22.1,<1.0",
    "fastapi>=0.136.3,<1.0",
    "starlette>=1.0.1,<2.0",
    "backoff>=2.2.1,<3.0",
    "pyyaml>=6.0.3,<7.0",
    "rq>=2.7.0,<3.0",
    "orjson>=3.11.6,<4.0",
    "hiredis>=3.0.0,<4.0",
    "apscheduler>=3.11.2,<4.0",
    "fastapi-sso>=0.19.0,<1.0",
    "pyjwt>=2.13.0,<3.0",
    "python-multipart>=0.0.27,<1.0",
    "cryptography>=49.0.0,<51.0",
    "pynacl>=1.6.2,<2.0",
    "websockets>=15.0.1,<16.0",
    "boto3>=1.43.117,<2.0",
    "azure-identity>=1.25.2,<2.0",
    "azure-storage-blob>=12.28.0,<13.0",
    "mcp>=2.3.0,<3",
    "httpx2>=2.10.0,<3",
    "pydantic>=2.12.0,<3",
    "restrictedpython>=8.5,<9.0",
    "rich>=13.9.4,<14.0",
    "inquirerpy>=0.3.4,<1.0",
    "tomlkit>=0.13.3,<1.0",
    "polars>=1.38.1,<2.0",
    "soundfile>=0.12.1,<1.0",
    "pyroscope-io>=0.8.16,<1.0",
    "expression>=5.6.0,<6.0",
    "backports-zstd>=1.0.0,<2.0",
    "semver>=3.0.4,<4",
    "litellm-proxy-extras==0.4.110",
    "litellm-enterprise==0.1.83",
    # An optional import LiteLLM retries on every request when it is missing.
    "opentelemetry-sdk",
)


class LiteLLM(Service):
    kind: ClassVar[str] = "litellm"
    listener: Listener = Listener(
        port=4000, exposure=Exposure.LAN, lan_reason="the one gateway LAN clients use"
    )
    user: Name = "litellm"
    package: PythonPackage = PythonPackage(
        requirement="litellm", version="1.110.2", also=LITELLM_PROXY_EXTRA
    )
    host_cores: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="CPU cores of the host it runs on; sizes the workers when they are not set",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="uvicorn workers (--num_workers); unset: one per core of host_cores",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        default="WARNING",
        description="LITELLM_LOG; it also sets uvicorn's level under json_logs, so above INFO "
        "the per-request access lines are not written; None leaves it unset (LiteLLM's default)",
    )
    lean: bool = Field(
        default=True,
        description="turn off what the platform does not use: spend logs and budget "
        "reservations (no database), the release check at start-up",
    )
    server: Literal["uvicorn", "gunicorn"] = Field(
        default="gunicorn",
        description="what runs several workers: gunicorn imports LiteLLM once and forks them "
        "(back in ~6 s after a crash on two cores); uvicorn starts each worker from scratch "
        "(~10 s). One worker always runs in uvicorn, in-process.",
    )

    @property
    def preforked(self) -> bool:
        """Whether the workers are forked by gunicorn (``--run_gunicorn``)."""
        return self.server == "gunicorn" and self.worker_count > 1

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers is not None else workers_for(self.host_cores)


#: A worker is a whole LiteLLM process (~300 MB resident): derived counts stop here.
MAX_DERIVED_WORKERS = 8


def workers_for(cores: int | None) -> int:
    """One uvicorn worker per core (capped); LiteLLM's own default, one, when cores are unknown.

    The gateway is CPU-bound in Python between the client and the upstream: a second process
    uses a second core, a third on two cores only adds switching (measured: docs/PERFORMANCE.md).
    """
    if cores is None:
        return 1
    return max(1, min(cores, MAX_DERIVED_WORKERS))


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
    source: Source
    requirements: tuple[str, ...] = Field(
        default=("fastapi==0.165.0", "uvicorn==0.54.0", "openvino-genai==2026.4.1.0"),
        description="top-level pins of its virtualenv (its own repository names them)",
    )
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
    package: PythonPackage = PythonPackage(
        requirement="optillm", version="0.4.0", linux_also=(CPU_TORCH,)
    )
    approach: Literal["proxy"] = "proxy"


#: requirements.txt of SearXNG at the ref pinned in group_data/mini.py, plus granian.
SEARXNG_REQUIREMENTS = (
    "certifi==2025.11.12",
    "babel==2.17.0",
    "flask-babel==4.0.0",
    "flask==3.1.2",
    "jinja2==3.1.6",
    "lxml==6.0.2",
    "pygments==2.19.2",
    "python-dateutil==2.9.0.post0",
    "pyyaml==6.0.3",
    "httpx[http2]==0.28.1",
    "httpx-socks[asyncio]==0.10.0",
    "valkey==6.1.1",
    "markdown-it-py==3.0.0",
    "fasttext-predict==0.9.2.4",
    "msgspec==0.19.0",
    "typer-slim==0.20.0",
    "isodate==0.7.2",
    "whitenoise==6.11.0",
    "typing-extensions==4.15.0",
    "httpx_curl_cffi==0.1.4",
    "granian==2.8.7",
)


class Searxng(Service):
    kind: ClassVar[str] = "searxng"
    listener: Listener = Listener(port=8888)
    user: Name = "searxng"
    #: Debian's ``searx`` (its predecessor) is the closest substitute a registry carries.
    source: SourceOrPackage
    requirements: tuple[str, ...] = Field(
        default=SEARXNG_REQUIREMENTS,
        description="its requirements.txt at the pinned ref, plus the WSGI server",
    )
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


#: A file or folder name inside a data directory: no path, no leading dot.
DataName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]


class Backups(Frozen):
    """Copies of a service's data, made on its host (under ``Layout.backup_dir``) before a
    deploy changes its package or its config, and on demand (``homelab backup``)."""

    keep: int = Field(default=5, ge=1, le=100, description="copies kept on the host, newest first")
    database: DataName = Field(
        default="webui.db",
        description="the SQLite database in the data directory, copied with SQLite's online backup",
    )
    folders: tuple[DataName, ...] = Field(
        default=("uploads",), description="folders of the data directory, copied as they are"
    )


class OpenWebUI(Service):
    kind: ClassVar[str] = "open-webui"
    listener: Listener = Listener(
        port=3000, exposure=Exposure.LAN, lan_reason="the chat UI LAN users open"
    )
    user: Name = "open-webui"
    package: PythonPackage = PythonPackage(
        requirement="open-webui", version="0.12.4", linux_also=(CPU_TORCH,)
    )
    env_file: AbsPath = "/etc/open-webui/env"
    offline: bool = Field(default=True, description="the host has no internet: no hub downloads")
    secret_key: SecretRef = SecretRef(env="WEBUI_SECRET_KEY")
    #: Made at first start when no user exists (headless); signup is closed after it. The
    #: password is a secret made on the host; the operator reads it there to sign in.
    admin_email: str = Field(default="admin@homelab.lan", pattern=r"^[^@\s]+@[^@\s]+$")
    admin_password: SecretRef = SecretRef(env="WEBUI_ADMIN_PASSWORD")
    #: Its database and uploads: the platform's data whose loss hurts users most.
    backups: Backups = Backups()


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
    toolchain: Toolchain = Toolchain()
    litellm: LiteLLM = LiteLLM()
    ov_server: OvServer
    optillm: OptillmProxy = OptillmProxy()
    searxng: Searxng
    open_webui: OpenWebUI = OpenWebUI()
    mcp_registry_path: AbsPath = "/etc/homelab-llm/mcp-registry.json"
    mcp_tools: tuple[McpTool, ...] = ()

    def services(self) -> tuple[tuple[str, Service], ...]:
        """(field name, service) of each of the Mini's services, in declaration order."""
        return tuple((name, value) for name, value in self if isinstance(value, Service))


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
    synthetic: bool = Field(
        default=False,
        description="make a tiny random-weight model at source_path (the lab: no hub here)",
    )

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

    package: PythonPackage = PythonPackage(
        requirement="mlx-lm", version="0.32.2", linux_also=("mlx[cpu]",)
    )
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
    toolchain: Toolchain = Toolchain(
        python="/opt/homebrew/bin/python3.11",
        platform="aarch64-apple-darwin",
        find_links=(),
        macos_version="15.0",
    )
    run_as: Name = Field(description="the account the Studio's model servers run as")
    hf_home: AbsPath
    mlx: MlxServers
    mlx_listener_reason: str = "the gateway on the Mini calls the MLX servers"
    optillm_local: tuple[OptillmLocal, ...] = ()
    # The seed pins transformers<5 for the router; optillm 0.4 needs transformers 5, so the
    # local instances stay on the last optillm release that works with transformers 4.
    optillm_local_package: PythonPackage = PythonPackage(
        requirement="optillm", version="0.3.20", also=("transformers<5",), linux_also=(CPU_TORCH,)
    )
    afm: Afm = Afm()

    def mlx_listener(self, model: MlxModel) -> Listener:
        assert model.port is not None
        return Listener(port=model.port, exposure=Exposure.LAN, lan_reason=self.mlx_listener_reason)
