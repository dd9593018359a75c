"""MLX servers in the lab: real mlx-lm on the CPU, serving tiny random-weight models.

No model hub is reachable, so the deploy makes each served model on the host
(``lab/scripts/make_tiny_model.py``: a llama of hidden size 32 with a locally trained BPE
tokenizer) before the servers start. The servers, the registry and the gateway's routes are the
real ones.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import TYPE_CHECKING

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from deploys.files import put
from deploys.loops import each
from deploys.mlx import MlxDeployer
from deploys.service import deploys
from deploys.state import exists
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.render import HostFile
from homelab.services.base import Daemon
from homelab.services.mlx import MlxModel, MlxService

if TYPE_CHECKING:
    from homelab.model.platform import Platform

TINY_MODEL_SCRIPT = PROJECT_ROOT / "lab" / "scripts" / "make_tiny_model.py"


class TinyMlx(MlxService):
    """The real MLX servers, on tiny models the lab makes on each host."""


def maker_path(platform: Platform, host: str) -> str:
    layout = platform.host(host).layout
    return f"{layout.install_dir(TinyMlx.name)}/{TINY_MODEL_SCRIPT.name}"


def seed_of(model_id: str) -> int:
    """A model's random seed, from its id: its replicas on other hosts get the same weights."""
    return int(hashlib.sha256(model_id.encode()).hexdigest()[:8], 16) % 2**31


@deploys(TinyMlx)
class TinyMlxDeployer(MlxDeployer):
    """The real deploy, with each tiny model made (in the servers' venv) before its server."""

    title = "MLX servers (tiny models)"

    def served(self, platform: Platform, host: str) -> tuple[MlxModel, ...]:
        mlx = self.service.on(platform, host)
        # A model from the hub is fetched, not made.
        return tuple(m for m in mlx.served if m.source is None) if mlx is not None else ()

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        made = tuple(f"{m.source_path}/config.json" for m in self.served(platform, host))
        return (*super().snapshot_paths(platform, host), maker_path(platform, host), *made)

    def run(self, platform: Platform, host: str, tools: Tools) -> None:
        shared = self.install(platform, host, tools)
        servers = self.service.daemons(platform, host)
        made = self.models(platform, host, servers[0]) if servers else {}
        self.servers(platform, host, tools, shared, {**made, **self.fetched(platform, host, tools)})

    def models(
        self, platform: Platform, host: str, first: Daemon
    ) -> dict[int, list[OperationMeta]]:
        owner, group = self.owner(platform, host), self.group(platform, host)
        ops: dict[int, list[OperationMeta]] = {}
        script = maker_path(platform, host)
        put(HostFile(path=script, content=TINY_MODEL_SCRIPT.read_text()))
        for model in each(self.served(platform, host)):
            assert model.port is not None
            if exists(f"{model.source_path}/config.json"):
                continue
            parent = posixpath.dirname(model.source_path)
            seed = seed_of(model.model_id)
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
