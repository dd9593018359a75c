"""OptiLLM local-inference instances on the Studio (off by default): one venv, one daemon each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from pydantic import Field, model_validator

from homelab.model.base import Frozen, Listener
from homelab.model.naming import Backend, handle_problems
from homelab.services.base import PYTHON_RUNTIME, Daemon, ServiceModule, common, serve_on

if TYPE_CHECKING:
    from homelab.model.platform import Platform


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


class OptillmLocalService(ServiceModule):
    name = "optillm-local"
    role = "studio"

    def daemons(self, platform: Platform) -> tuple[Daemon, ...]:
        studio = platform.studio
        key = platform.gateway.optillm_key
        hf = {"HF_HOME": studio.hf_home, "HF_HUB_OFFLINE": "1", "HOME": studio.layout.state}
        return tuple(
            Daemon(
                name=local.handle,
                description=f"OptiLLM local inference ({local.model})",
                user=studio.run_as,
                argv=(
                    f"{studio.layout.venv(self.name)}/bin/optillm",
                    *serve_on(local.listener),
                    "--model",
                    local.model,
                ),
                listener=local.listener,
                health="/health",
                enabled=local.enabled,
                install=self.name,
                requirements=studio.optillm_local_package.requirements(studio.os),
                # OptiLLM serves the model itself when OPTILLM_API_KEY is set in its environment.
                secrets={key.env: key},
                environment=hf,
                relax=PYTHON_RUNTIME,
                **common(platform, self.role),
            )
            for local in studio.optillm_local
        )


SERVICE = OptillmLocalService()
