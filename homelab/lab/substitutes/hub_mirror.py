"""The hub mirror in the lab: the real olah, offline, serving tiny models the lab makes.

No model hub is reachable, so the deploy makes the lab hub's repositories on its host before
the mirror starts: each a git repository under ``mirrors_dir`` holding a tiny MLX model
(``lab/scripts/make_tiny_model.py``, run in the host's MLX venv), committed; a repository's
revision is its commit. ``tiny-llama-big`` holds a 2 MB weights file (never loaded: it is there
to be refused by a memory budget). The mirror, its config and the client that fetches from it
are the real ones.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from pyinfra.operations import server

from deploys.files import put
from deploys.hub_mirror import HubMirrorDeployer
from deploys.service import deploys
from deploys.state import exists
from deploys.toolchain import Tools
from homelab.lab.substitutes.mlx import TINY_MODEL_SCRIPT, seed_of
from homelab.render import HostFile
from homelab.services.hub_mirror import HubMirrorService

if TYPE_CHECKING:
    from homelab.model.platform import Platform

#: The lab hub's repositories (org/name) holding a tiny MLX model.
TINY_REPOS = ("lab/tiny-llama-hub", "lab/tiny-llama-hub-2")
#: A repository whose weights are over the lab's MLX budget (1 MB).
BIG_REPO = "lab/tiny-llama-big"
BIG_BYTES = 2 * 2**20
#: The venv that has the tiny model maker's libraries (numpy, safetensors, tokenizers).
MAKER_VENV = "mlx"
COMMIT = "git -c user.name=lab -c user.email=lab@lab.invalid commit -q -m 'the lab hub'"


class SeededHubMirror(HubMirrorService):
    """The real olah, offline, over repositories of tiny models made on its host."""


@deploys(SeededHubMirror)
class SeededHubMirrorDeployer(HubMirrorDeployer):
    title = "Hugging Face hub mirror (olah, the lab's tiny models)"

    def run(self, platform: Platform, host: str, tools: Tools) -> None:
        hub = self.service.on(platform, host)
        if hub is not None:
            self.seed(platform, host, hub.mirrors_dir, hub.user)
        super().run(platform, host, tools)

    def seed(self, platform: Platform, host: str, mirrors: str, user: str) -> None:
        layout = platform.host(host).layout
        python = f"{layout.venv(MAKER_VENV)}/bin/python"
        script = f"{layout.install_dir(self.service.name)}/{TINY_MODEL_SCRIPT.name}"
        put(HostFile(path=script, content=TINY_MODEL_SCRIPT.read_text()))
        for repo in (*TINY_REPOS, BIG_REPO):
            folder = f"{mirrors}/models/{repo}"
            if exists(f"{folder}/.git/refs/heads/main"):
                continue
            if repo == BIG_REPO:
                make = [
                    f"mkdir -p {folder}",
                    f"head -c {BIG_BYTES} /dev/urandom > {folder}/model.safetensors",
                    f'echo \'{{"model_type": "llama"}}\' > {folder}/config.json',
                ]
            else:
                make = [f"{python} {script} {folder} {seed_of(repo)}"]
            q = shlex.quote(folder)
            server.shell(
                name=f"The lab hub's repository {repo}",
                commands=[
                    f"id {user} >/dev/null 2>&1 || useradd --system --no-create-home {user}",
                    f"rm -rf {q}",  # a half-made one
                    *make,
                    f"cd {q} && git init -q -b main && git add -A && {COMMIT}",
                    f"chown -R {user}: {mirrors}",
                ],
            )
