"""The OptiLLM proxy beside the gateway: loopback only, the gateway its only provider.

File: ``proxy_config.yaml`` in its own user's home, where its proxy plugin looks: the gateway
as its one provider (no cloud fallback), MLX handles mapped to the internal router-* names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from homelab.model.base import LOOPBACK, Listener, Name, env_name
from homelab.model.common import CPU_TORCH, PythonPackage, Service
from homelab.model.naming import ROUTER_PREFIX, Backend
from homelab.model.routing import Route, url
from homelab.render.engine import render
from homelab.render.files import HostFile
from homelab.services.base import PYTHON_RUNTIME, Daemon, Handle, ServiceModule, common, serve_on
from homelab.services.litellm import SERVICE as LITELLM
from homelab.services.litellm import gateway_host, gateway_url, on_gateway_host

if TYPE_CHECKING:
    from homelab.model.platform import Platform


class OptillmProxy(Service):
    kind: ClassVar[str] = "optillm"
    key: ClassVar[str] = "optillm"
    listener: Listener = Listener(port=4020)
    user: Name = "optillm"
    package: PythonPackage = PythonPackage(
        requirement="optillm", version="0.4.0", linux_also=(CPU_TORCH,)
    )
    open_files: int = Field(
        default=262144,
        ge=1024,
        le=1048576,
        description="LimitNOFILE. OptiLLM 0.4.0's proxy approach makes a new ApproachHandler "
        "for every request whose model has a dash (every router-* name), which imports each "
        "plugin module again, and its MCP plugin opens its log file at import, never closed: "
        "one descriptor per request. Under the default 1024 it answers every request with "
        "'Too many open files' after about a thousand (the gateway then falls back to the "
        "servers, but opt-* handles fail); a restart (any deploy that changes it) clears them",
    )


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


def proxy_config_path(daemon: Daemon) -> str:
    return f"{daemon.environment['HOME']}/.optillm/proxy_config.yaml"


def direct_routes(platform: Platform) -> dict[str, Route]:
    """The gateway's internal router-* routes (straight to a server, never through OptiLLM
    again), by the client handle each serves: what OptiLLM calls back with."""
    out: dict[str, Route] = {}
    for service in platform.modules():
        if isinstance(service, OptillmService):
            continue
        for route in service.routes(platform):
            if route.internal and route.handle.startswith(ROUTER_PREFIX):
                out[route.handle.removeprefix(ROUTER_PREFIX)] = route
    return out


def model_map(platform: Platform) -> dict[str, str]:
    """Bare handles (what OptiLLM is left with) -> the gateway's internal router-* names."""
    return {handle: ROUTER_PREFIX + handle for handle in direct_routes(platform)}


def proxy_url(platform: Platform) -> str | None:
    """Where the gateway reaches the OptiLLM proxy (on its own host), or None without one."""
    home = gateway_host(platform)
    opt = platform.host(home).get(OptillmProxy)
    return url(LOOPBACK, opt.listener.port) if opt is not None else None


class OptillmService(ServiceModule[OptillmProxy]):
    name = "optillm"
    options = OptillmProxy

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        opt = self.on(platform, host)
        if opt is None:
            return ()
        h, gw = platform.host(host), platform.gateway
        daemon = Daemon(
            name=self.name,
            description="OptiLLM optimizing proxy (loopback only, calls the gateway back)",
            user=opt.user,
            argv=(
                f"{h.layout.venv(self.name)}/bin/python",
                "-c",
                OPTILLM_WITH_KEY,
                *serve_on(opt.listener),
                "--base-url",
                gateway_url(platform, seen_from=host),
                # Its proxy plugin (the MLX models mapped in proxy_config.yaml) is the only
                # approach the platform serves: not an option.
                "--approach",
                "proxy",
            ),
            listener=opt.listener,
            where=f"{host}.{self.key}.listener.port",
            health="/health",
            enabled=opt.enabled and gw.uses_optillm,
            requirements=opt.package.requirements(h.system),
            environment={
                "HOME": h.layout.state_dir(self.name),  # where the proxy plugin finds its config
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
            open_files=opt.open_files,
            after=(h.os.init.unit_id(h.layout, LITELLM.name),),
            **common(platform, host),
        )
        return (daemon,)

    def routes(self, platform: Platform) -> Iterator[Route]:
        gw, base = platform.gateway, proxy_url(platform)
        if base is None:
            return
        direct = direct_routes(platform)
        for opt in gw.opt_handles:
            under = direct.get(opt.base)
            if under is None:
                continue  # refused by the rules below
            yield Route(
                handle=opt.handle,
                backend=Backend.OPT,
                upstream_model=opt.selector,
                api_base=base,
                api_key=gw.optillm_key,
                # OptiLLM's proxy approach drops technique prefixes from the model name; it
                # runs the technique named by proxy_wrap through its providers.
                extra_body=(("proxy_wrap", opt.technique.value),),
                max_input_tokens=under.max_input_tokens,
                max_output_tokens=under.max_output_tokens,
                env_prefix="OPTILLM_" + env_name(opt.handle),
            )

    def handles(self, platform: Platform) -> Iterator[Handle]:
        home = gateway_host(platform)
        for i, opt in enumerate(platform.gateway.opt_handles):
            yield Handle(opt.handle, Backend.OPT, f"gateway.opt_handles[{i}].handle", home)

    def endpoints(self, platform: Platform) -> dict[str, tuple[str, str]]:
        home = gateway_host(platform)
        opt = platform.host(home).get(OptillmProxy)
        if opt is None:
            return {}
        init = platform.host(home).os.init.name
        return {
            h.handle: (f"ep_optillm_proxy_{opt.listener.port}", init)
            for h in self.handles(platform)
        }

    def placement_problems(self, platform: Platform) -> list[str]:
        return on_gateway_host(
            platform, OptillmProxy, "OptiLLM listens on loopback; the gateway calls it there"
        )

    def problems(self, platform: Platform) -> list[str]:
        gw = platform.gateway
        problems: list[str] = []
        direct = direct_routes(platform)
        for i, opt in enumerate(gw.opt_handles):
            if opt.base not in direct:
                problems.append(
                    f"gateway.opt_handles[{i}].base: {opt.base!r} is not a served MLX handle "
                    "(rule: an opt-* handle runs on an mlx-* handle that has a port)"
                )
        opt_on = platform.host(gateway_host(platform)).get(OptillmProxy)
        if gw.uses_optillm and (opt_on is None or not opt_on.enabled):
            problems.append(
                f"{gateway_host(platform)}.optillm.enabled: no OptiLLM proxy runs beside the "
                "gateway while it routes through OptiLLM "
                "(rule: route_via_optillm and opt-* handles need the OptiLLM proxy)"
            )
        return problems

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        content = render(
            "optillm/proxy_config.yaml.j2",
            gateway_url=gateway_url(platform, seen_from=daemon.host),
            key_env=platform.gateway.proxy_key.env,
            model_map=model_map(platform),
            timeout=platform.gateway.router.timeout,
        )
        return [
            HostFile(
                path=proxy_config_path(daemon),
                content=content,
                owner=daemon.user,
                group=daemon.user,
                mode="0600",
                restarts=(daemon.name,),
            )
        ]


SERVICE = OptillmService()
