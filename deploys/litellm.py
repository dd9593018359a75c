"""The LiteLLM proxy: the platform's one gateway.

Its router config is checked on the host by the installed LiteLLM's own loader (and every
``os.environ/`` reference it makes must be set) before it replaces the running one: LiteLLM
itself would drop a bad model entry with a log line and start anyway.
"""

from __future__ import annotations

import shlex

from pyinfra.api.operation import OperationMeta

from deploys.files import Check, EarlyCheck, guarded_put, put, start_check
from deploys.service import Deployer, ServiceDeploy, deploys
from deploys.state import in_place, link_target
from deploys.toolchain import Tools
from homelab import PROJECT_ROOT
from homelab.locks import lock_for, locked_venv_target
from homelab.model import Platform
from homelab.render import HostFile, daemon_files
from homelab.services import Daemon
from homelab.services.litellm import LiteLLMService, listing_module

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
        if f.path != self.daemon.config:
            return None
        return self.check_reading({})

    def env_files(self) -> list[str]:
        """The env files the check reads, as the service gets them (its secrets last)."""
        d = self.daemon
        return [*d.env_files, *([d.secrets_env] if d.secrets_env else [])]

    def check_reading(self, stand_ins: dict[str, str]) -> Check:
        """The check, each env file read where ``stand_ins`` puts it (else where it is)."""
        d = self.daemon
        args = " ".join(
            f"--env-file {shlex.quote(stand_ins.get(path, path))}" for path in self.env_files()
        )
        # {path} is filled in with the candidate's place (by guarded_put, or early_commands).
        return f"{d.venv}/bin/python {self.checker} {args} {{path}} >&2"

    def early(self, f: HostFile) -> EarlyCheck | None:
        """The check of ``f`` (the config) started before the services deploy (it imports
        LiteLLM's proxy: seconds), when the gateway's venv and checker are already the ones
        this deploy wants; None on a host that does not have them yet."""
        d = self.daemon
        if not d.enabled or f.path != d.config:
            return None
        current = link_target(d.venv) == locked_venv_target(lock_for(d), d.install_dir)
        if not current or not in_place(self.checker, CHECKER.read_text()):
            return None
        rendered = {r.path: r for r in daemon_files(self.platform, d)}
        reads = self.env_files()
        return EarlyCheck(
            file=f,
            staging=self.staging,
            staged=tuple(rendered[p] for p in reads if p in rendered),
            # The listing hook's module: the candidate names it, the loader imports it.
            live=(*(p for p in reads if p not in rendered), listing_module(self.platform)),
            sha256=self.platform.host(d.host).os.sha256,
        )

    def start_early_check(self, f: HostFile | None = None) -> None:
        """Start the check of ``f`` (by default the config as rendered) in the background."""
        d = self.daemon
        config = f or next((r for r in daemon_files(self.platform, d) if r.path == d.config), None)
        early = self.early(config) if config is not None else None
        if early is not None:
            stand_ins = {s.path: early.stand_in(s) for s in early.staged}
            start_check(early, self.check_reading(stand_ins))

    def place(self, f: HostFile) -> OperationMeta | None:
        check = self.check(f)
        if check is None:
            return super().place(f)
        return guarded_put(f, check, self.staging, self.early(f))


@deploys(LiteLLMService)
class LiteLLMDeployer(Deployer):
    title = "LiteLLM gateway"
    daemon_deploy = LiteLLMDeploy

    def start_checks(self, platform: Platform, host: str, tools: Tools) -> None:
        for daemon in self.service.daemons(platform, host):
            LiteLLMDeploy(platform, self.service, daemon, tools).start_early_check()

    def snapshot_paths(self, platform: Platform, host: str) -> tuple[str, ...]:
        return tuple(checker_path(d) for d in self.service.daemons(platform, host))
