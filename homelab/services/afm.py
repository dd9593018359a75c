"""AFM: Apple Foundation Models behind an OpenAI-compatible API (planned, off)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Self

from pydantic import Field, model_validator

from homelab.model.base import AbsPath, Bool, Exposure, Frozen, GitSource, Listener
from homelab.model.naming import Backend, handle_problems
from homelab.model.routing import Route, url
from homelab.services.base import Daemon, Handle, ServiceModule, common, serve_on

if TYPE_CHECKING:
    from homelab.model.platform import Platform


class Afm(Frozen):
    """Apple Foundation Models behind an OpenAI-compatible API (planned; off by default)."""

    key: ClassVar[str] = "afm"
    listener: Listener = Listener(
        port=9999, exposure=Exposure.LAN, lan_reason="the gateway calls it"
    )
    enabled: Bool = False
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


class AfmService(ServiceModule[Afm]):
    name = "afm"
    options = Afm
    systems = frozenset({"macos"})
    systems_why = "Apple Foundation Models run on macOS"

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        afm = self.on(platform, host)
        h = platform.host(host)
        if afm is None or h.run_as is None:
            return ()
        daemon = Daemon(
            name=self.name,
            description="Apple Foundation Models, OpenAI-compatible (planned)",
            user=h.run_as,
            argv=(
                afm.executable or f"{h.layout.install_dir(self.name)}/bin/afm-server",
                *serve_on(afm.listener),
            ),
            listener=afm.listener,
            where=f"{host}.{self.key}.listener.port",
            health="/health",
            enabled=afm.enabled,
            source=afm.source,
            **common(platform, host),
        )
        return (daemon,)

    def handles(self, platform: Platform) -> Iterator[Handle]:
        for host, afm in self.placed(platform):
            if afm.enabled:
                for i, model_id in enumerate(afm.model_ids):
                    yield Handle(model_id, Backend.AFM, f"{host}.{self.key}.model_ids[{i}]", host)

    def routes(self, platform: Platform) -> Iterator[Route]:
        from homelab.services.litellm import gateway_host

        gw, seen_from = platform.gateway, gateway_host(platform)
        for host, afm in self.placed(platform):
            if not afm.enabled:
                continue
            for model_id in afm.model_ids:
                yield Route(
                    handle=model_id,
                    backend=Backend.AFM,
                    upstream_model=model_id,
                    api_base=url(platform.address(host, seen_from), afm.listener.port),
                    max_input_tokens=gw.default_max_output_tokens,
                    max_output_tokens=gw.default_max_output_tokens,
                    host=host,
                )

    def endpoints(self, platform: Platform) -> dict[str, tuple[str, str]]:
        return {
            model_id: (f"ep_afm_{afm.listener.port}", platform.host(host).os.init.name)
            for host, afm in self.placed(platform)
            for model_id in afm.model_ids
        }

    def placement_problems(self, platform: Platform) -> list[str]:
        return [
            f"{host}.run_as: missing (rule: a host running AFM states the account it runs as)"
            for host, _afm in self.placed(platform)
            if platform.host(host).run_as is None
        ]


SERVICE = AfmService()
