"""SearXNG beside the gateway: loopback only, JSON on, the gateway's web search backend.

Installed as upstream does: its repository at a pinned commit, its requirements in a venv, run
under granian. File: ``settings.yml``, loaded with every engine it names before it replaces
the running one (``deploys/searxng.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import Field, model_validator

from homelab.model.base import LOOPBACK, Bool, GitSource, Listener, Name, SecretRef
from homelab.model.common import Service
from homelab.render.engine import render
from homelab.render.files import HostFile
from homelab.services.base import Daemon, ServiceModule, common, serve_on

if TYPE_CHECKING:
    from homelab.model.platform import Platform

#: requirements.txt of SearXNG at the ref pinned in group_data/hosts/mini.py, plus granian.
SEARXNG_REQUIREMENTS = (
    "certifi==2025.11.12",
    "babel==2.17.0",
    "flask-babel==4.0.0",
    "flask==3.1.2",
    "jinja2==3.1.6",
    "lxml==6.0.2",
    "pygments==2.19.2",
    "python-dateutil==2.9.0.post0",
    "pyyaml==6.0.3",
    "httpx[http2]==0.28.1",
    "httpx-socks[asyncio]==0.10.0",
    "valkey==6.1.1",
    "markdown-it-py==3.0.0",
    "fasttext-predict==0.9.2.4",
    "msgspec==0.19.0",
    "typer-slim==0.20.0",
    "isodate==0.7.2",
    "whitenoise==6.11.0",
    "typing-extensions==4.15.0",
    "httpx_curl_cffi==0.1.4",
    "granian==2.8.7",
)


class Searxng(Service):
    kind: ClassVar[str] = "searxng"
    key: ClassVar[str] = "searxng"
    listener: Listener = Listener(port=8888)
    user: Name = "searxng"
    source: GitSource
    requirements: tuple[str, ...] = Field(
        default=SEARXNG_REQUIREMENTS,
        description="its requirements.txt at the pinned ref, plus the WSGI server",
    )
    formats: tuple[Literal["html", "json", "csv", "rss"], ...] = ("html", "json")
    limiter: Bool = False
    secret_key: SecretRef = SecretRef(env="SEARXNG_SECRET")

    @model_validator(mode="after")
    def _json_on(self) -> Self:
        if "json" not in self.formats:
            raise ValueError(
                "formats: 'json' is missing (rule: the gateway's searxng-search calls "
                "/search?format=json, which SearXNG refuses with 403 unless json is enabled)"
            )
        return self


class SearxngService(ServiceModule[Searxng]):
    name = "searxng"
    options = Searxng
    template = "searxng/settings.yml.j2"
    description = "SearXNG metasearch (loopback only; the gateway's search backend)"
    #: Where it reads its settings file from.
    settings_variable = "SEARXNG_SETTINGS_PATH"
    #: It reads server.secret_key from this variable when it is set.
    secret_variable = "SEARXNG_SECRET"

    def python(self, daemon: Daemon) -> str:
        """The interpreter that runs it (the settings check loads them with it)."""
        return f"{daemon.venv}/bin/python"

    def settings_path(self, platform: Platform, host: str) -> str:
        return f"{platform.host(host).layout.config_dir(self.name)}/settings.yml"

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        sx = self.on(platform, host)
        if sx is None:
            return ()
        lay = platform.host(host).layout
        settings = self.settings_path(platform, host)
        daemon = Daemon(
            name=self.name,
            description=self.description,
            user=sx.user,
            argv=(
                f"{lay.venv(self.name)}/bin/granian",
                "searx.webapp:app",
                "--interface",
                "wsgi",
                *serve_on(sx.listener),
            ),
            listener=sx.listener,
            where=f"{host}.{self.key}.listener.port",
            health="/healthz",
            enabled=sx.enabled,
            source=sx.source,
            requirements=sx.requirements,
            environment={self.settings_variable: settings},
            config=settings,
            secrets={self.secret_variable: sx.secret_key},
            working_dir=lay.source_dir(self.name),
            **common(platform, host),
        )
        return (daemon,)

    def gateway_environment(self, platform: Platform) -> dict[str, str]:
        # The gateway's search tool calls it on loopback (it listens nowhere else).
        for _host, sx in self.placed(platform):
            return {"SEARXNG_API_BASE": f"http://{LOOPBACK}:{sx.listener.port}"}
        return {}

    def placement_problems(self, platform: Platform) -> list[str]:
        from homelab.services.litellm import on_gateway_host

        return on_gateway_host(
            platform, Searxng, "the gateway's search tool calls SearXNG on loopback"
        )

    def settings(self, platform: Platform, host: str) -> str:
        sx = self.on(platform, host)
        assert sx is not None
        return render(self.template, searxng=sx, listener=sx.listener)

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        assert daemon.config is not None
        return [
            HostFile(
                path=daemon.config,
                content=self.settings(platform, daemon.host),
                group=daemon.user,
                mode="0640",
                restarts=(daemon.name,),
            )
        ]


SERVICE = SearxngService()
