"""Every process the platform runs, derived from the model: one typed description each.

A :class:`Daemon` renders to a systemd unit on Linux or a launchd plist on macOS; the deploys
install and activate it, and the verify suite checks it, all from the same description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homelab.model import ROLES, Listener, Platform, Role, SecretRef
from homelab.model.base import LOOPBACK, DebianPackage, Source
from homelab.model.services import Layout, MiniHost, Toolchain


@dataclass(frozen=True)
class Relax:
    """A hardening directive set away from the baseline, and why the service needs it."""

    value: str
    why: str


@dataclass(frozen=True)
class Daemon:
    role: Role
    name: str
    description: str
    user: str
    argv: tuple[str, ...]
    listener: Listener
    health: str
    layout: Layout
    os: str
    toolchain: Toolchain
    enabled: bool = True
    #: The virtualenv it runs from, shared by daemons of one kind (all MLX servers, say).
    install: str = ""
    #: Top-level requirements of that virtualenv; the deploy installs their lock.
    requirements: tuple[str, ...] = ()
    source: Source | DebianPackage | None = None
    #: Non-secret settings: env files rendered from the model, and inline variables.
    env_files: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    #: Secret variables, written on the host into a 0600 env file only this service reads.
    secrets: dict[str, SecretRef] = field(default_factory=dict)
    working_dir: str | None = None
    #: Its main config file, the one a deploy checks before it replaces it.
    config: str | None = None
    supplementary_groups: tuple[str, ...] = ()
    relax: dict[str, Relax] = field(default_factory=dict)
    #: Loopback-only services that talk to nothing else are fenced at the IP level too.
    loopback_only_traffic: bool = False
    after: tuple[str, ...] = ()

    @property
    def state_dir(self) -> str:
        return self.layout.state_dir(self.name)

    @property
    def config_dir(self) -> str:
        return self.layout.config_dir(self.name)

    @property
    def venv(self) -> str:
        return self.layout.venv(self.install or self.name)

    @property
    def secrets_env(self) -> str | None:
        return self.layout.secrets_env(self.name) if self.secrets else None

    @property
    def unit(self) -> str:
        return f"{self.name}.service"

    @property
    def label(self) -> str:
        return f"{self.layout.launchd_prefix}.{self.name}"

    @property
    def unit_path(self) -> str:
        if self.os == "darwin":
            return f"{self.layout.launchd_daemons}/{self.label}.plist"
        return f"{self.layout.systemd_units}/{self.unit}"

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.listener.port}{self.health}"


# Directives that break specific runtimes, said once with the reason.
_WX_MEMORY = Relax("no", "PyTorch/oneDNN and onnxruntime generate code at run time (W+X pages)")
_PROC_ALL = Relax("all", "reads /proc/cpuinfo and /proc/meminfo to size its thread pools")
#: What every Python service relaxes (each says why).
PYTHON_RUNTIME: dict[str, Relax] = {"MemoryDenyWriteExecute": _WX_MEMORY, "ProcSubset": _PROC_ALL}


def serve_on(listener: Listener) -> tuple[str, ...]:
    """``--host BIND --port PORT``, the way every server here takes its listener."""
    return ("--host", listener.bind, "--port", str(listener.port))


#: OptiLLM's client key must reach it as --optillm-api-key: OPTILLM_API_KEY in its environment
#: would switch it to local inference. A flag is in the process's arguments, which every user
#: of the host can read; so the flag is added inside the process, from a variable of its 0600
#: secrets file, which is then dropped from its environment.
OPTILLM_KEY_VAR = "OPTILLM_PROXY_KEY"
OPTILLM_WITH_KEY = (
    "import os, sys; "
    "sys.argv = ['optillm', *sys.argv[1:], '--optillm-api-key', "
    f"os.environ.pop('{OPTILLM_KEY_VAR}')]; "
    "from optillm import main; sys.exit(main())"
)


def mini_daemons(platform: Platform) -> tuple[Daemon, ...]:
    mini = platform.mini
    gw = platform.gateway
    lay = mini.layout
    common: dict[str, Any] = {
        "role": "mini", "layout": lay, "os": mini.os, "toolchain": mini.toolchain,
    }
    gateway_url = f"http://{LOOPBACK}:{mini.litellm.listener.port}/v1"
    uses_optillm = gw.route_via_optillm or bool(gw.opt_handles)

    litellm = mini.litellm
    router = f"{lay.config_dir(litellm.kind)}/router.yaml"
    litellm_secrets = {gw.proxy_key.env: gw.proxy_key}
    if uses_optillm:
        litellm_secrets[gw.optillm_key.env] = gw.optillm_key
    daemons = [
        Daemon(
            name=litellm.kind,
            description="LiteLLM proxy: the platform's one gateway",
            user=litellm.user,
            argv=(
                f"{lay.venv(litellm.kind)}/bin/litellm",
                "--config",
                router,
                *serve_on(litellm.listener),
                "--num_workers",
                str(litellm.worker_count),
                *(("--run_gunicorn",) if litellm.preforked else ()),
            ),
            listener=litellm.listener,
            health="/health/liveliness",
            enabled=litellm.enabled,
            requirements=litellm.package.requirements(mini.os),
            env_files=(f"{lay.config_dir(litellm.kind)}/env",),
            config=router,
            environment={"LITELLM_LOG": litellm.log_level} if litellm.log_level else {},
            secrets=litellm_secrets,
            **common,
        ),
    ]

    ov = mini.ov_server
    gpu = ov.device != "CPU"
    ov_relax = {}
    if gpu:
        ov_relax["PrivateDevices"] = Relax("no", "the GPU runtime opens /dev/dri (render group)")
        ov_relax["DeviceAllow"] = Relax("/dev/dri rw", "only the GPU render nodes")
    daemons.append(
        Daemon(
            name=ov.kind,
            description="OpenVINO model server",
            user=ov.user,
            argv=(
                f"{lay.venv(ov.kind)}/bin/uvicorn",
                "main:app",
                *serve_on(ov.listener),
                "--workers",
                "1",
            ),
            listener=ov.listener,
            health="/health",
            enabled=ov.enabled,
            source=ov.source,
            requirements=ov.requirements,
            env_files=(ov.env_file,),
            working_dir=f"{lay.opt}/{ov.kind}/src",
            supplementary_groups=ov.supplementary_groups if gpu else (),
            relax={**PYTHON_RUNTIME, **ov_relax},
            **common,
        )
    )

    opt = mini.optillm
    daemons.append(
        Daemon(
            name=opt.kind,
            description="OptiLLM optimizing proxy (loopback only, calls the gateway back)",
            user=opt.user,
            argv=(
                f"{lay.venv(opt.kind)}/bin/python",
                "-c",
                OPTILLM_WITH_KEY,
                *serve_on(opt.listener),
                "--base-url",
                gateway_url,
                "--approach",
                opt.approach,
            ),
            listener=opt.listener,
            health="/health",
            enabled=opt.enabled and uses_optillm,
            requirements=opt.package.requirements(mini.os),
            environment={
                "HOME": lay.state_dir(opt.kind),  # where the proxy plugin finds its config
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                # Its fallback client imports LiteLLM, which would fetch a cost map.
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                # When a provider call fails, the proxy plugin retries through its fallback
                # client: the gateway again, under the bare handle, which routes back here, a
                # loop. A key the gateway refuses makes that fallback fail at once instead.
                "OPENAI_API_KEY": "fallback-refused",
            },
            secrets={
                OPTILLM_KEY_VAR: gw.optillm_key,
                # The gateway key, for proxy_config.yaml.
                gw.proxy_key.env: gw.proxy_key,
            },
            relax=PYTHON_RUNTIME,
            loopback_only_traffic=True,
            after=(f"{litellm.kind}.service",),
            **common,
        )
    )

    daemons.append(searxng_daemon(mini, common))

    ow = mini.open_webui
    daemons.append(
        Daemon(
            name=ow.kind,
            description="Open WebUI, pointed at the gateway",
            user=ow.user,
            argv=(
                f"{lay.venv(ow.kind)}/bin/open-webui",
                "serve",
                *serve_on(ow.listener),
            ),
            listener=ow.listener,
            health="/health",
            enabled=ow.enabled,
            requirements=ow.package.requirements(mini.os),
            env_files=(ow.env_file,),
            secrets={
                ow.secret_key.env: ow.secret_key,
                ow.admin_password.env: ow.admin_password,
                "OPENAI_API_KEY": gw.proxy_key,
                # Web search goes through the gateway's search endpoint with the same key.
                "PERPLEXITY_API_KEY": gw.proxy_key,
            },
            working_dir=lay.state_dir(ow.kind),
            relax=PYTHON_RUNTIME,
            after=(f"{litellm.kind}.service",),
            **common,
        )
    )
    return tuple(daemons)


def searxng_daemon(mini: MiniHost, common: dict[str, Any]) -> Daemon:
    """SearXNG from its repository under granian; or Debian's searx, its predecessor."""
    sx = mini.searxng
    lay = mini.layout
    settings = f"{lay.config_dir(sx.kind)}/settings.yml"
    description = "SearXNG metasearch (loopback only; the gateway's search backend)"
    if isinstance(sx.source, DebianPackage):
        return Daemon(
            name=sx.kind,
            description=f"{description}, as Debian's {sx.source.package}",
            user=sx.user,
            argv=("/usr/bin/searx-run",),
            listener=sx.listener,
            health="/healthz",
            enabled=sx.enabled,
            source=sx.source,
            environment={"SEARX_SETTINGS_PATH": settings},
            config=settings,
            secrets={"SEARX_SECRET": sx.secret_key},
            **common,
        )
    return Daemon(
        name=sx.kind,
        description=description,
        user=sx.user,
        argv=(
            f"{lay.venv(sx.kind)}/bin/granian",
            "searx.webapp:app",
            "--interface",
            "wsgi",
            *serve_on(sx.listener),
        ),
        listener=sx.listener,
        health="/healthz",
        enabled=sx.enabled,
        source=sx.source,
        requirements=sx.requirements,
        environment={"SEARXNG_SETTINGS_PATH": settings},
        config=settings,
        # SearXNG reads server.secret_key from SEARXNG_SECRET when it is set.
        secrets={"SEARXNG_SECRET": sx.secret_key},
        working_dir=f"{lay.opt}/{sx.kind}/src",
        **common,
    )


def studio_daemons(platform: Platform) -> tuple[Daemon, ...]:
    studio = platform.studio
    lay = studio.layout
    common: dict[str, Any] = {
        "role": "studio",
        "layout": lay,
        "os": studio.os,
        "toolchain": studio.toolchain,
        "user": studio.run_as,
    }
    hf = {"HF_HOME": studio.hf_home, "HF_HUB_OFFLINE": "1", "HOME": lay.state}
    daemons: list[Daemon] = []
    mlx_venv = lay.venv("mlx")
    mlx_requirements = studio.mlx.package.requirements(studio.os)
    for model in studio.mlx.served:
        assert model.port is not None
        listener = studio.mlx_listener(model)
        argv = [
            f"{mlx_venv}/bin/mlx_lm.server",
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
        daemons.append(
            Daemon(
                name=f"mlx-{model.port}",
                description=f"mlx-lm server for {model.model_id}",
                argv=tuple(argv),
                listener=listener,
                health="/health",
                install="mlx",
                requirements=mlx_requirements,
                environment=hf,
                relax=PYTHON_RUNTIME,
                **common,
            )
        )
    local_venv = lay.venv("optillm-local")
    for local in studio.optillm_local:
        daemons.append(
            Daemon(
                name=local.handle,
                description=f"OptiLLM local inference ({local.model})",
                argv=(
                    f"{local_venv}/bin/optillm",
                    *serve_on(local.listener),
                    "--model",
                    local.model,
                ),
                listener=local.listener,
                health="/health",
                enabled=local.enabled,
                install="optillm-local",
                requirements=studio.optillm_local_package.requirements(studio.os),
                # OptiLLM serves the model itself when OPTILLM_API_KEY is set in its environment.
                secrets={platform.gateway.optillm_key.env: platform.gateway.optillm_key},
                environment=hf,
                relax=PYTHON_RUNTIME,
                **common,
            )
        )
    afm = studio.afm
    daemons.append(
        Daemon(
            name="afm",
            description="Apple Foundation Models, OpenAI-compatible (planned)",
            argv=(afm.executable, *serve_on(afm.listener)),
            listener=afm.listener,
            health="/health",
            enabled=afm.enabled,
            source=afm.source,
            **common,
        )
    )
    return tuple(daemons)


def daemons(platform: Platform, role: Role) -> tuple[Daemon, ...]:
    """Every daemon of one host, enabled or not (disabled ones are rendered, not started)."""
    return mini_daemons(platform) if role == "mini" else studio_daemons(platform)


def enabled_daemons(platform: Platform) -> list[Daemon]:
    """Every daemon the data turns on, both hosts."""
    return [d for role in ROLES for d in daemons(platform, role) if d.enabled]


def daemon_named(platform: Platform, role: Role, name: str) -> Daemon:
    for daemon in daemons(platform, role):
        if daemon.name == name:
            return daemon
    raise KeyError(f"{role} runs no daemon named {name!r}")
