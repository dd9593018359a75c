"""ov-server: the operator's own FastAPI app serving OpenVINO models.

Files: its runtime environment (``/etc/homelab-llm/ov-server.env``, as in the seed) and the
registry of its converted models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import Field, model_validator

from homelab.model.base import AbsPath, Exposure, Frozen, GitSource, Listener, Name, env_name
from homelab.model.common import Service
from homelab.model.naming import Backend, handle_problems
from homelab.model.routing import Route, max_output_tokens, url
from homelab.model.service import Warmup
from homelab.render.files import HostFile, env_file, json_file
from homelab.services.base import (
    PYTHON_RUNTIME,
    Daemon,
    Handle,
    Relax,
    ServiceModule,
    common,
    serve_on,
)
from homelab.services.litellm import gateway_host

if TYPE_CHECKING:
    from homelab.model.platform import Platform


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
    key: ClassVar[str] = "ov_server"
    listener: Listener = Listener(
        port=9000, exposure=Exposure.LAN, lan_reason="maintenance from the LAN (seed)"
    )
    user: Name = "ov-server"
    source: GitSource
    requirements: tuple[str, ...] = Field(
        default=("fastapi==0.165.0", "uvicorn==0.54.0", "openvino-genai==2026.4.1.0"),
        description="top-level pins of its virtualenv (its own repository names them)",
    )
    device: Literal["GPU", "CPU", "AUTO", "MULTI:GPU,CPU"] = "GPU"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    env_file: AbsPath = "/etc/homelab-llm/ov-server.env"
    models: tuple[OvModel, ...] = ()
    #: The operator's warm-up profiles (``ovctl warm-profile``): named sets of its models.
    profiles: dict[Name, tuple[str, ...]] = Field(
        default_factory=dict,
        description="warm-up profiles: each a set of the server's model ids, loaded together",
    )
    active_profile: Name | None = Field(
        default=None,
        description="the profile whose models are asked one short request right after the "
        "server starts (it loads a model at its first request); a deploy switches it without "
        "restarting the server or the gateway. None: every model loads at its first request",
    )
    #: On the real Mini the GPU runtime opens /dev/dri: render nodes (render), cards (video).
    supplementary_groups: tuple[Name, ...] = ("render", "video")


def registry_path(daemon: Daemon) -> str:
    return f"{daemon.config_dir}/registry.json"


def model_path(daemon: Daemon) -> str:
    return f"{daemon.state_dir}/models"


def environment(ov: OvServer, daemon: Daemon) -> dict[str, str]:
    return {
        "OV_DEVICE": ov.device,
        "OV_REGISTRY_PATH": registry_path(daemon),
        "OV_MODEL_PATH": model_path(daemon),
        "OV_LOG_LEVEL": ov.log_level,
    }


def registry(ov: OvServer, daemon: Daemon) -> dict[str, object]:
    return {
        "models": {
            m.model_id: {
                "path": f"{model_path(daemon)}/{m.model_id}",
                "context_length": m.context_length,
            }
            for m in ov.models
        }
    }


class OvServerService(ServiceModule[OvServer]):
    name = "ov-server"
    options = OvServer

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        ov = self.on(platform, host)
        if ov is None:
            return ()
        lay = platform.host(host).layout
        gpu = ov.device != "CPU"
        relax = dict(PYTHON_RUNTIME)
        if gpu:
            relax["PrivateDevices"] = Relax("no", "the GPU runtime opens /dev/dri (render group)")
            relax["DeviceAllow"] = Relax("/dev/dri rw", "only the GPU render nodes")
        daemon = Daemon(
            name=self.name,
            description="OpenVINO model server",
            user=ov.user,
            argv=(
                f"{lay.venv(self.name)}/bin/uvicorn",
                "main:app",
                *serve_on(ov.listener),
                "--workers",
                "1",
            ),
            listener=ov.listener,
            where=f"{host}.{self.key}.listener.port",
            health="/health",
            enabled=ov.enabled,
            source=ov.source,
            requirements=ov.requirements,
            env_files=(ov.env_file,),
            working_dir=lay.source_dir(self.name),
            supplementary_groups=ov.supplementary_groups if gpu else (),
            relax=relax,
            **common(platform, host),
        )
        return (daemon,)

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        ov = self.on(platform, daemon.host)
        assert ov is not None
        env = environment(ov, daemon)
        return [
            env_file(daemon.env_files[0], "ov-server environment", env, daemon),
            json_file(registry_path(daemon), registry(ov, daemon), restarts=(daemon.name,)),
        ]

    def handles(self, platform: Platform) -> Iterator[Handle]:
        for host, ov in self.placed(platform):
            if ov.enabled:
                for i, m in enumerate(ov.models):
                    yield Handle(
                        m.model_id, Backend.OV, f"{host}.{self.key}.models[{i}].model_id", host
                    )

    def routes(self, platform: Platform) -> Iterator[Route]:
        gw = platform.gateway
        seen_from = gateway_host(platform)
        for host, ov in self.placed(platform):
            if not ov.enabled:
                continue
            # ov-server binds all addresses for maintenance; the gateway beside it uses loopback.
            base = url(platform.address(host, seen_from), ov.listener.port)
            for m in ov.models:
                yield Route(
                    handle=m.model_id,
                    backend=Backend.OV,
                    upstream_model=m.model_id,
                    api_base=base,
                    max_input_tokens=m.context_length,
                    max_output_tokens=max_output_tokens(
                        None, m.context_length, gw.default_max_output_tokens
                    ),
                    env_prefix=env_name(m.model_id),
                    host=host,
                )

    def warmups(self, platform: Platform, host: str) -> tuple[Warmup, ...]:
        """The active profile's models, asked by name after the server starts: it loads (and
        compiles for its device) a model at its first request."""
        ov = self.on(platform, host)
        if ov is None or ov.active_profile is None:
            return ()
        (daemon,) = self.daemons(platform, host)
        members = ov.profiles[ov.active_profile]
        return (Warmup(daemon, tuple((m, m) for m in members), ov.active_profile),)

    def problems(self, platform: Platform) -> list[str]:
        """Each profile names the server's own models; the active one is a profile."""
        problems = []
        for host, ov in self.placed(platform):
            at = f"{host}.{self.key}"
            served = {m.model_id for m in ov.models}
            for name, members in ov.profiles.items():
                if not members:
                    problems.append(
                        f"{at}.profiles.{name}: empty (rule: a profile names at least one model)"
                    )
                problems += [
                    f"{at}.profiles.{name}: {model_id!r} is not one of the server's models "
                    "(rule: a profile names models the server serves)"
                    for model_id in members
                    if model_id not in served
                ]
            if ov.active_profile is not None and ov.active_profile not in ov.profiles:
                known = ", ".join(sorted(ov.profiles)) or "none"
                problems.append(
                    f"{at}.active_profile: {ov.active_profile!r} is not a profile (profiles: "
                    f"{known}) (rule: the active profile is one of the server's profiles)"
                )
        return problems

    def endpoints(self, platform: Platform) -> dict[str, tuple[str, str]]:
        return {
            m.model_id: (f"ep_ov_llm_server_{ov.listener.port}", platform.host(host).os.init.name)
            for host, ov in self.placed(platform)
            for m in ov.models
        }


SERVICE = OvServerService()
