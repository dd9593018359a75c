"""The OptiLLM proxy on the Mini: loopback only, the gateway its only provider.

File: ``proxy_config.yaml`` in its own user's home, where its proxy plugin looks: the gateway
as its one provider (no cloud fallback), MLX handles mapped to the internal router-* names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from homelab.model.base import Listener, Name
from homelab.model.common import CPU_TORCH, PythonPackage, Service
from homelab.model.naming import ROUTER_PREFIX
from homelab.render.engine import render
from homelab.render.files import HostFile
from homelab.services.base import PYTHON_RUNTIME, Daemon, ServiceModule, common, serve_on
from homelab.services.litellm import gateway_url

if TYPE_CHECKING:
    from homelab.model.platform import Platform


class OptillmProxy(Service):
    kind: ClassVar[str] = "optillm"
    listener: Listener = Listener(port=4020)
    user: Name = "optillm"
    package: PythonPackage = PythonPackage(
        requirement="optillm", version="0.4.0", linux_also=(CPU_TORCH,)
    )
    approach: Literal["proxy"] = "proxy"


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


def model_map(platform: Platform) -> dict[str, str]:
    """Bare MLX names (what OptiLLM is left with) -> the gateway's internal router-* names."""
    return {m.model_id: ROUTER_PREFIX + m.model_id for m in platform.studio.mlx.served}


class OptillmService(ServiceModule):
    name = "optillm"
    role = "mini"

    def daemons(self, platform: Platform) -> tuple[Daemon, ...]:
        mini, gw = platform.mini, platform.gateway
        opt = mini.optillm
        daemon = Daemon(
            name=self.name,
            description="OptiLLM optimizing proxy (loopback only, calls the gateway back)",
            user=opt.user,
            argv=(
                f"{mini.layout.venv(self.name)}/bin/python",
                "-c",
                OPTILLM_WITH_KEY,
                *serve_on(opt.listener),
                "--base-url",
                gateway_url(platform),
                "--approach",
                opt.approach,
            ),
            listener=opt.listener,
            health="/health",
            enabled=opt.enabled and gw.uses_optillm,
            requirements=opt.package.requirements(mini.os),
            environment={
                "HOME": mini.layout.state_dir(self.name),  # where the proxy plugin finds its config
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
            after=(f"{mini.litellm.kind}.service",),
            **common(platform, self.role),
        )
        return (daemon,)

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        content = render(
            "optillm/proxy_config.yaml.j2",
            gateway_url=gateway_url(platform),
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
