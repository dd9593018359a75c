"""A Hugging Face hub mirror on the LAN: olah (PyPI's ``olah``), serving the hub's file API.

Models whose ``source.endpoint`` names it are fetched from it instead of the public hub. With
``offline`` it serves only the git repositories under ``mirrors_dir`` (``<mirrors_dir>/models/
<org>/<name>``, one git repository each, committed files; revisions are their commits) and
never calls the internet; without, it also proxies and caches the public hub (olah's own
mode). Its config file is ``olah.toml``; its caches are under its state folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from homelab.model.base import AbsPath, Bool, Exposure, Listener, Name
from homelab.model.common import PythonPackage, Service
from homelab.render.files import HostFile
from homelab.services.base import PYTHON_RUNTIME, Daemon, ServiceModule, common

if TYPE_CHECKING:
    from homelab.model.platform import Platform


class HubMirror(Service):
    key: ClassVar[str] = "hub_mirror"
    listener: Listener = Listener(
        port=8090, exposure=Exposure.LAN, lan_reason="the hosts fetch model weights from it"
    )
    user: Name = "hub-mirror"
    package: PythonPackage = PythonPackage(requirement="olah", version="0.5.4")
    mirrors_dir: AbsPath = Field(description="the git repositories it serves as the hub's")
    offline: Bool = Field(default=True, description="serve mirrors_dir only, never the internet")


class HubMirrorService(ServiceModule[HubMirror]):
    name = "hub-mirror"
    options = HubMirror

    def config_path(self, platform: Platform, host: str) -> str:
        return f"{platform.host(host).layout.config_dir(self.name)}/olah.toml"

    def endpoint(self, platform: Platform, seen_from: str | None = None) -> str | None:
        """The mirror's URL (HF_ENDPOINT), as ``seen_from`` reaches it; None: none placed."""
        for host, hub in self.placed(platform):
            at = platform.address(host, seen_from) if seen_from else platform.addresses[host]
            return f"http://{at}:{hub.listener.port}"
        return None

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        hub = self.on(platform, host)
        if hub is None:
            return ()
        lay = platform.host(host).layout
        state = lay.state_dir(self.name)
        return (
            Daemon(
                name=self.name,
                description="olah, a Hugging Face hub mirror",
                user=hub.user,
                argv=(
                    f"{lay.venv(self.name)}/bin/olah-cli",
                    "--config",
                    self.config_path(platform, host),
                    "--log-path",
                    f"{state}/logs",
                ),
                listener=hub.listener,
                where=f"{host}.{self.key}.listener.port",
                # Its page at / needs a jinja2 it does not pin; its API schema is always served.
                health="/openapi.json",
                enabled=hub.enabled,
                install=self.name,
                requirements=(hub.package.pin,),
                # git (which olah reads its repositories with) wants a home.
                environment={"HOME": state},
                working_dir=state,
                config=self.config_path(platform, host),
                relax=PYTHON_RUNTIME,
                **common(platform, host),
            ),
        )

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        hub = self.on(platform, daemon.host)
        assert hub is not None and daemon.config is not None
        state = daemon.layout.state_dir(self.name)
        address = platform.addresses[daemon.host]
        text = "\n".join(
            (
                "[basic]",
                f'host = "{hub.listener.bind}"',
                f"port = {hub.listener.port}",
                'mirror-scheme = "http"',
                f'mirror-netloc = "{address}:{hub.listener.port}"',
                f'mirror-lfs-netloc = "{address}:{hub.listener.port}"',
                f'repos-path = "{state}/repos"',
                f'mirrors-path = ["{hub.mirrors_dir}"]',
                "",
                "[accessibility]",
                f"offline = {'true' if hub.offline else 'false'}",
                "",
            )
        )
        return [
            HostFile(
                path=daemon.config,
                content=text,
                group=daemon.user,
                mode="0640",
                restarts=(daemon.name,),
            )
        ]


SERVICE = HubMirrorService()
