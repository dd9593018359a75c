"""MLX servers on the Studio: one venv for all, one daemon per registry entry with a port."""

from __future__ import annotations

import posixpath

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from deploys.steps import ServiceDeploy, put, service_account, virtualenv
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.daemons import daemons
from homelab.model import Platform
from homelab.render import mlx as mlx_files

TINY_MODEL_SCRIPT = PROJECT_ROOT / "deploys" / "scripts" / "make_tiny_model.py"


@deploy("MLX servers")
def deploy_mlx(platform: Platform, tools: Tools) -> None:
    studio = platform.studio
    servers = [d for d in daemons(platform, "studio") if d.install == "mlx"]
    owner = studio.run_as
    shared: list[OperationMeta] = []
    if servers:
        first = servers[0]
        shared += service_account(first, home=studio.layout.state)
        shared += virtualenv(first, tools)
        group = "staff" if studio.os == "darwin" else owner
        # mlx_lm.server's /v1/models scans the hub cache and fails when it is missing.
        for path in (studio.hf_home, f"{studio.hf_home}/hub"):
            files.directory(name=f"Directory {path}", path=path, user=owner, group=group)
        shared += synthetic_models(platform, first.venv, owner, group)
    shared += [put(f) for f in mlx_files.files(platform)]
    for daemon in servers:
        ServiceDeploy(platform, daemon, tools, shared=shared).run_configured()


def synthetic_models(platform: Platform, venv: str, owner: str, group: str) -> list[OperationMeta]:
    """Tiny random-weight models where the registry asks for them (the lab has no hub)."""
    ops: list[OperationMeta] = []
    wanted = [m for m in platform.studio.mlx.served if m.synthetic]
    if not wanted:
        return ops
    script = f"{platform.studio.layout.opt}/mlx/make_tiny_model.py"
    files.put(name="Tiny model maker", src=str(TINY_MODEL_SCRIPT), dest=script, mode="0644")
    for seed, model in enumerate(wanted):
        if host.get_fact(File, path=f"{model.source_path}/config.json"):
            continue
        parent = posixpath.dirname(model.source_path)
        ops.append(
            server.shell(
                name=f"Make the tiny model {model.model_id}",
                commands=[
                    f"mkdir -p {parent}",
                    f"{venv}/bin/python {script} {model.source_path} {seed}",
                    f"chown -R {owner}:{group} {model.source_path}",
                ],
            )
        )
    return ops
