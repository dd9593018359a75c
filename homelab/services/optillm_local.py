"""OptiLLM local-inference instances (off by default): one venv, one daemon each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Self

from pydantic import Field, model_validator

from homelab.model.base import Bool, Frozen, Listener
from homelab.model.common import CPU_TORCH, PythonPackage
from homelab.model.naming import Backend, handle_problems
from homelab.model.routing import Route, url
from homelab.services.base import PYTHON_RUNTIME, Daemon, Handle, ServiceModule, common, serve_on
from homelab.services.mlx import MLX_PORTS, span

if TYPE_CHECKING:
    from homelab.model.platform import Platform


class OptillmLocal(Frozen):
    """A single-model OptiLLM local-inference instance (off by default)."""

    handle: str
    listener: Listener
    model: str = Field(description="the local HF model it loads")
    enabled: Bool = False

    @model_validator(mode="after")
    def _canonical(self) -> Self:
        problems = handle_problems(self.handle, Backend.OPT)
        if problems:
            raise ValueError("handle: " + "; ".join(problems))
        return self


class OptillmLocals(Frozen):
    """The host's OptiLLM local-inference instances, and the package they run."""

    key: ClassVar[str] = "optillm_local"
    instances: tuple[OptillmLocal, ...] = ()
    # The seed pins transformers<5 for the router; optillm 0.4 needs transformers 5, so the
    # local instances stay on the last optillm release that works with transformers 4.
    package: PythonPackage = PythonPackage(
        requirement="optillm", version="0.3.20", also=("transformers<5",), linux_also=(CPU_TORCH,)
    )


class OptillmLocalService(ServiceModule[OptillmLocals]):
    name = "optillm-local"
    options = OptillmLocals

    def weights(self, platform: Platform, host: str) -> dict[str, bool]:
        """The hub models its instances load from the host's hub cache (served while the
        instance is on): ``homelab weights prune`` keeps them."""
        locals_ = self.on(platform, host)
        out: dict[str, bool] = {}
        for local in locals_.instances if locals_ else ():
            out[local.model] = out.get(local.model, False) or local.enabled
        return out

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        locals_ = self.on(platform, host)
        h = platform.host(host)
        if locals_ is None or h.run_as is None or h.hf_home is None:
            return ()
        key = platform.gateway.optillm_key
        hf = {"HF_HOME": h.hf_home, "HF_HUB_OFFLINE": "1", "HOME": h.layout.state}
        return tuple(
            Daemon(
                name=local.handle,
                description=f"OptiLLM local inference ({local.model})",
                user=h.run_as,
                argv=(
                    f"{h.layout.venv(self.name)}/bin/optillm",
                    *serve_on(local.listener),
                    "--model",
                    local.model,
                ),
                listener=local.listener,
                where=f"{host}.{self.key}.instances[{i}].listener.port",
                health="/health",
                enabled=local.enabled,
                install=self.name,
                requirements=locals_.package.requirements(h.system),
                # OptiLLM serves the model itself when OPTILLM_API_KEY is set in its environment.
                secrets={key.env: key},
                environment=hf,
                relax=PYTHON_RUNTIME,
                **common(platform, host),
            )
            for i, local in enumerate(locals_.instances)
        )

    def enabled(self, platform: Platform) -> Iterator[tuple[str, int, OptillmLocal]]:
        for host, locals_ in self.placed(platform):
            for i, local in enumerate(locals_.instances):
                if local.enabled:
                    yield host, i, local

    def handles(self, platform: Platform) -> Iterator[Handle]:
        for host, i, local in self.enabled(platform):
            yield Handle(
                local.handle, Backend.OPT, f"{host}.{self.key}.instances[{i}].handle", host
            )

    def routes(self, platform: Platform) -> Iterator[Route]:
        from homelab.services.litellm import gateway_host

        gw, seen_from = platform.gateway, gateway_host(platform)
        for host, _i, local in self.enabled(platform):
            yield Route(
                handle=local.handle,
                backend=Backend.OPT,
                upstream_model=local.model,
                api_base=url(platform.address(host, seen_from), local.listener.port),
                api_key=gw.optillm_key,
                max_input_tokens=gw.default_max_output_tokens,
                max_output_tokens=gw.default_max_output_tokens,
                host=host,
            )

    def endpoints(self, platform: Platform) -> dict[str, tuple[str, str]]:
        return {
            local.handle: (
                f"ep_optillm_local_{local.listener.port}",
                platform.host(host).os.init.name,
            )
            for host, locals_ in self.placed(platform)
            for local in locals_.instances
        }

    def placement_problems(self, platform: Platform) -> list[str]:
        problems = []
        for host, locals_ in self.placed(platform):
            for i, local in enumerate(locals_.instances):
                if local.listener.port in MLX_PORTS:
                    problems.append(
                        f"{host}.{self.key}.instances[{i}].listener.port: {local.listener.port} "
                        f"lies in the MLX ranges (rule: {span(MLX_PORTS)} belong to MLX servers)"
                    )
        return problems


SERVICE = OptillmLocalService()
