"""AFM on the Studio: Apple Foundation Models behind an OpenAI-compatible API (planned, off)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from pydantic import Field, model_validator

from homelab.model.base import AbsPath, Exposure, Frozen, GitSource, Listener
from homelab.model.naming import Backend, handle_problems
from homelab.services.base import Daemon, ServiceModule, common, serve_on

if TYPE_CHECKING:
    from homelab.model.platform import Platform


class Afm(Frozen):
    """Apple Foundation Models behind an OpenAI-compatible API (planned; off by default)."""

    listener: Listener = Listener(
        port=9999, exposure=Exposure.LAN, lan_reason="the gateway on the Mini calls it"
    )
    enabled: bool = False
    model_ids: tuple[str, ...] = ()
    source: GitSource | None = None
    executable: AbsPath | None = Field(
        default=None, description="its server program; unset: bin/afm-server of its install"
    )

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


class AfmService(ServiceModule):
    name = "afm"
    role = "studio"

    def daemons(self, platform: Platform) -> tuple[Daemon, ...]:
        studio = platform.studio
        afm = studio.afm
        daemon = Daemon(
            name=self.name,
            description="Apple Foundation Models, OpenAI-compatible (planned)",
            user=studio.run_as,
            argv=(
                afm.executable or f"{studio.layout.install_dir(self.name)}/bin/afm-server",
                *serve_on(afm.listener),
            ),
            listener=afm.listener,
            health="/health",
            enabled=afm.enabled,
            source=afm.source,
            **common(platform, self.role),
        )
        return (daemon,)


SERVICE = AfmService()
