"""ov-server on the Mini: the operator's own FastAPI app serving OpenVINO models.

Files: its runtime environment (``/etc/homelab-llm/ov-server.env``, as in the seed) and the
registry of its converted models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import Field, model_validator

from homelab.model.base import AbsPath, Exposure, Frozen, GitSource, Listener, Name
from homelab.model.common import Service
from homelab.model.naming import Backend, handle_problems
from homelab.render.files import HostFile, env_file, json_file
from homelab.services.base import PYTHON_RUNTIME, Daemon, Relax, ServiceModule, common, serve_on

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
    #: On the real Mini the GPU runtime opens /dev/dri: render nodes (render), cards (video).
    supplementary_groups: tuple[Name, ...] = ("render", "video")


def registry_path(daemon: Daemon) -> str:
    return f"{daemon.config_dir}/registry.json"


def model_path(daemon: Daemon) -> str:
    return f"{daemon.state_dir}/models"


def environment(platform: Platform, daemon: Daemon) -> dict[str, str]:
    ov = platform.mini.ov_server
    return {
        "OV_DEVICE": ov.device,
        "OV_REGISTRY_PATH": registry_path(daemon),
        "OV_MODEL_PATH": model_path(daemon),
        "OV_LOG_LEVEL": ov.log_level,
    }


def registry(platform: Platform, daemon: Daemon) -> dict[str, object]:
    return {
        "models": {
            m.model_id: {
                "path": f"{model_path(daemon)}/{m.model_id}",
                "context_length": m.context_length,
            }
            for m in platform.mini.ov_server.models
        }
    }


class OvServerService(ServiceModule):
    name = "ov-server"
    role = "mini"

    def daemons(self, platform: Platform) -> tuple[Daemon, ...]:
        ov = platform.mini.ov_server
        lay = platform.mini.layout
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
            health="/health",
            enabled=ov.enabled,
            source=ov.source,
            requirements=ov.requirements,
            env_files=(ov.env_file,),
            working_dir=lay.source_dir(self.name),
            supplementary_groups=ov.supplementary_groups if gpu else (),
            relax=relax,
            **common(platform, self.role),
        )
        return (daemon,)

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        env = environment(platform, daemon)
        return [
            env_file(daemon.env_files[0], "ov-server environment", env, daemon),
            json_file(registry_path(daemon), registry(platform, daemon), restarts=(daemon.name,)),
        ]


SERVICE = OvServerService()
