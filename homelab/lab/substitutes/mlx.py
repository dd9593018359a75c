"""MLX servers in the lab: real mlx-lm on the CPU, serving tiny random-weight models.

No model hub is reachable, so the deploy makes each served model on the host
(``lab/scripts/make_tiny_model.py``: a llama of hidden size 32 with a locally trained BPE
tokenizer) before the servers start. The servers, the registry and the gateway's routes are the
real ones.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from deploys.mlx import MlxDeploy
from deploys.mlx import snapshot_paths as mlx_paths
from deploys.state import exists
from deploys.steps import put
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.render import HostFile
from homelab.services.base import Daemon
from homelab.services.mlx import MlxService

if TYPE_CHECKING:
    from homelab.model.platform import Platform
    from homelab.services.base import ServiceModule

TINY_MODEL_SCRIPT = PROJECT_ROOT / "lab" / "scripts" / "make_tiny_model.py"


class TinyMlx(MlxService):
    @property
    def deploy(self) -> str | None:
        return f"{__name__}:deploy_tiny_mlx"


def maker_path(platform: Platform) -> str:
    return f"{platform.studio.layout.install_dir(TinyMlx.name)}/{TINY_MODEL_SCRIPT.name}"


def snapshot_paths(platform: Platform, service: ServiceModule) -> tuple[str, ...]:
    made = tuple(f"{m.source_path}/config.json" for m in platform.studio.mlx.served)
    return (*mlx_paths(platform, service), maker_path(platform), *made)


class TinyMlxDeploy(MlxDeploy):
    def models(self, first: Daemon, owner: str, group: str) -> dict[int, list[OperationMeta]]:
        ops: dict[int, list[OperationMeta]] = {}
        script = maker_path(self.platform)
        put(HostFile(path=script, content=TINY_MODEL_SCRIPT.read_text()))
        for seed, model in enumerate(self.platform.studio.mlx.served):
            assert model.port is not None
            if exists(f"{model.source_path}/config.json"):
                continue
            parent = posixpath.dirname(model.source_path)
            ops[model.port] = [
                server.shell(
                    name=f"Make the tiny model {model.model_id}",
                    commands=[
                        f"mkdir -p {parent}",
                        f"{first.venv}/bin/python {script} {model.source_path} {seed}",
                        f"chown -R {owner}:{group} {model.source_path}",
                    ],
                )
            ]
        return ops


@deploy("MLX servers (tiny models)")
def deploy_tiny_mlx(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    TinyMlxDeploy(platform, service, tools).run()
