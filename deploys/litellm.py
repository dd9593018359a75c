"""The LiteLLM proxy: the platform's one gateway.

Its router config is checked on the host by the installed LiteLLM's own loader (and every
``os.environ/`` reference it makes must be set) before it replaces the running one: LiteLLM
itself would drop a bad model entry with a log line and start anyway.
"""

from __future__ import annotations

import shlex

from deploys.files import Check, put
from deploys.service import Deployer, ServiceDeploy, deploys
from homelab import PROJECT_ROOT
from homelab.model import Platform
from homelab.render import HostFile
from homelab.services import Daemon
from homelab.services.litellm import LiteLLMService

CHECKER = PROJECT_ROOT / "deploys" / "scripts" / "check_litellm_config.py"


def checker_path(daemon: Daemon) -> str:
    """Where the checker goes on the host: beside the venvs of the gateway."""
    return f"{daemon.install_dir}/{CHECKER.name}"


class LiteLLMDeploy(ServiceDeploy):
    @property
    def checker(self) -> str:
        return checker_path(self.daemon)

    def configure(self) -> None:
        if self.daemon.enabled:
            put(HostFile(path=self.checker, content=CHECKER.read_text()))
        super().configure()

    def check(self, f: HostFile) -> Check | None:
        d = self.daemon
        if f.path != d.config:
            return None
        env_files = [*d.env_files, *([d.secrets_env] if d.secrets_env else [])]
        args = " ".join(f"--env-file {shlex.quote(path)}" for path in env_files)
        # {path} is filled in with the candidate's place by guarded_put.
        return f"{d.venv}/bin/python {self.checker} {args} {{path}} >&2"


@deploys(LiteLLMService)
class LiteLLMDeployer(Deployer):
    title = "LiteLLM gateway"
    daemon_deploy = LiteLLMDeploy

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        return tuple(checker_path(d) for d in self.service.daemons(platform, host))
