"""The LiteLLM proxy: the platform's one gateway.

Its router config is checked on the host by the installed LiteLLM's own loader (and every
``os.environ/`` reference it makes must be set) before it replaces the running one: LiteLLM
itself would drop a bad model entry with a log line and start anyway.
"""

from __future__ import annotations

import shlex

from pyinfra.api.deploy import deploy
from pyinfra.operations import files

from deploys.steps import Check, ServiceDeploy
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.model import Platform
from homelab.render import HostFile
from homelab.services import ServiceModule

CHECKER = PROJECT_ROOT / "deploys" / "scripts" / "check_litellm_config.py"


class LiteLLMDeploy(ServiceDeploy):
    @property
    def checker(self) -> str:
        return f"{self.daemon.install_dir}/{CHECKER.name}"

    def configure(self) -> None:
        if self.daemon.enabled:
            files.put(
                name="LiteLLM config checker", src=str(CHECKER), dest=self.checker, mode="0644"
            )
        super().configure()

    def check(self, f: HostFile) -> Check | None:
        d = self.daemon
        if f.path != d.config:
            return None
        env_files = [*d.env_files, *([d.secrets_env] if d.secrets_env else [])]
        args = " ".join(f"--env-file {shlex.quote(path)}" for path in env_files)
        # {path} is filled in with the candidate's place by guarded_put.
        return f"{d.venv}/bin/python {self.checker} {args} {{path}} >&2"


@deploy("LiteLLM gateway")
def deploy_litellm(platform: Platform, tools: Tools, service: ServiceModule) -> None:
    LiteLLMDeploy.of(platform, service, tools).run()
