"""Open WebUI, pointed at the gateway wherever it runs, its data in its own state directory.

Files: its environment (``/etc/open-webui/env``, as in the seed) and ``serve.py``, which runs
upstream's ``open-webui serve`` on the listening socket systemd holds (a restart makes
connections wait instead of refusing them). Its data (the SQLite database
and the uploads) is what users lose most: ``backups`` says how it is copied before a change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field

from homelab import PROJECT_ROOT
from homelab.model.base import AbsPath, Exposure, Frozen, Listener, Name, SecretRef
from homelab.model.common import CPU_TORCH, PythonPackage, Service
from homelab.render.files import HostFile, env_file
from homelab.services.base import PYTHON_RUNTIME, Daemon, ServiceModule, common, serve_on
from homelab.services.litellm import SERVICE as LITELLM
from homelab.services.litellm import gateway_host, gateway_url, reaches_gateway, search_url

if TYPE_CHECKING:
    from homelab.model.platform import Platform

#: A file or folder name inside a data directory: no path, no leading dot.
DataName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]


class Backups(Frozen):
    """Copies of a service's data, made on its host (under ``Layout.backup_dir``) before a
    deploy changes its package or its config, and on demand (``homelab backup``)."""

    keep: int = Field(default=5, ge=1, le=100, description="copies kept on the host, newest first")
    database: DataName = Field(
        default="webui.db",
        description="the SQLite database in the data directory, copied with SQLite's online backup",
    )
    folders: tuple[DataName, ...] = Field(
        default=("uploads",), description="folders of the data directory, copied as they are"
    )


class OpenWebUI(Service):
    kind: ClassVar[str] = "open-webui"
    key: ClassVar[str] = "open_webui"
    listener: Listener = Listener(
        port=3000, exposure=Exposure.LAN, lan_reason="the chat UI LAN users open"
    )
    user: Name = "open-webui"
    package: PythonPackage = PythonPackage(
        requirement="open-webui", version="0.12.4", linux_also=(CPU_TORCH,)
    )
    env_file: AbsPath = "/etc/open-webui/env"
    secret_key: SecretRef = SecretRef(env="WEBUI_SECRET_KEY")
    #: Made at first start when no user exists (headless); signup is closed after it. The
    #: password is a secret made on the host; the operator reads it there to sign in.
    admin_email: str = Field(default="admin@homelab.lan", pattern=r"^[^@\s]+@[^@\s]+$")
    admin_password: SecretRef = SecretRef(env="WEBUI_ADMIN_PASSWORD")
    #: Its database and uploads: the platform's data whose loss hurts users most.
    backups: Backups = Backups()
    default_models: tuple[str, ...] = Field(
        default=(), description="handles or aliases a new chat starts with (none: the user picks)"
    )
    task_model: str | None = Field(
        default=None,
        description="the handle or alias that writes titles, tags and search queries "
        "(None: the chat's own model)",
    )


#: ``open-webui serve`` on the socket the init system passes in (read it for why).
SERVE = PROJECT_ROOT / "templates" / "open_webui" / "serve.py"


class OpenWebUIService(ServiceModule[OpenWebUI]):
    name = "open-webui"
    options = OpenWebUI

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        ow = self.on(platform, host)
        if ow is None:
            return ()
        h, gw = platform.host(host), platform.gateway
        daemon = Daemon(
            name=self.name,
            description="Open WebUI, pointed at the gateway",
            user=ow.user,
            argv=(
                f"{h.layout.venv(self.name)}/bin/python",
                f"{h.layout.install_dir(self.name)}/{SERVE.name}",
                *serve_on(ow.listener),
            ),
            listener=ow.listener,
            where=f"{host}.{self.key}.listener.port",
            health="/health",
            enabled=ow.enabled,
            requirements=ow.package.requirements(h.system),
            env_files=(ow.env_file,),
            secrets={
                ow.secret_key.env: ow.secret_key,
                ow.admin_password.env: ow.admin_password,
                "OPENAI_API_KEY": gw.proxy_key,
                # Web search goes through the gateway's search endpoint with the same key.
                "PERPLEXITY_API_KEY": gw.proxy_key,
            },
            working_dir=h.layout.state_dir(self.name),
            relax=PYTHON_RUNTIME,
            # It takes ~12 s to start on two cores: the socket outlives it meanwhile.
            socket_activated=True,
            # Beside the gateway, it starts after it (its model list is read at start).
            after=(
                (h.os.init.unit_id(h.layout, LITELLM.name),)
                if gateway_host(platform) == host
                else ()
            ),
            **common(platform, host),
        )
        return (daemon,)

    def environment(self, platform: Platform, daemon: Daemon) -> dict[str, str]:
        ow = self.on(platform, daemon.host)
        assert ow is not None
        return {
            # Its default DATA_DIR is inside the installed package: lost on upgrade.
            "DATA_DIR": daemon.state_dir,
            # At each start it copies its frontend's static files into STATIC_DIR, by default
            # inside the package, which is read-only to it: every copy failed with an error line.
            "STATIC_DIR": f"{daemon.state_dir}/static",
            "OPENAI_API_BASE_URL": gateway_url(platform, seen_from=daemon.host),
            "ENABLE_OLLAMA_API": "False",
            "WEBUI_ADMIN_EMAIL": ow.admin_email,
            # Settings are stored in its database at first boot; this keeps the env in charge.
            "ENABLE_PERSISTENT_CONFIG": "False",
            "ANONYMIZED_TELEMETRY": "False",
            "SCARF_NO_ANALYTICS": "true",
            "DO_NOT_TRACK": "true",
            # Its perplexity_search engine speaks the gateway's search API: {query, max_results}
            # in, results[].url/title/snippet out.
            "ENABLE_WEB_SEARCH": "true",
            "WEB_SEARCH_ENGINE": "perplexity_search",
            "PERPLEXITY_SEARCH_API_URL": search_url(platform, seen_from=daemon.host),
            "WEB_SEARCH_RESULT_COUNT": str(platform.gateway.search_max_results),
            **({"DEFAULT_MODELS": ",".join(ow.default_models)} if ow.default_models else {}),
            # Its models all come through the gateway: an "external" connection to it.
            **({"TASK_MODEL_EXTERNAL": ow.task_model} if ow.task_model else {}),
        }

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        env = self.environment(platform, daemon)
        serve = HostFile(
            path=f"{daemon.install_dir}/{SERVE.name}",
            content=SERVE.read_text(),
            restarts=(daemon.name,),
        )
        return [serve, env_file(daemon.env_files[0], "Open WebUI environment", env, daemon)]

    def placement_problems(self, platform: Platform) -> list[str]:
        return reaches_gateway(platform, OpenWebUI)

    def problems(self, platform: Platform) -> list[str]:
        names = platform.client_names()
        aliases = {a.name for a in platform.gateway.aliases}
        only_aliases = platform.gateway.list_aliases_only
        problems = []
        for host, ow in self.placed(platform):
            chosen = [(f"default_models[{i}]", m) for i, m in enumerate(ow.default_models)]
            chosen += [("task_model", ow.task_model)] if ow.task_model else []
            for field, name in chosen:
                if name not in names:
                    problems.append(
                        f"{host}.{self.key}.{field}: {name!r} is neither a handle nor an alias "
                        "(rule: Open WebUI's models are names the gateway serves)"
                    )
                elif only_aliases and name not in aliases:
                    problems.append(
                        f"{host}.{self.key}.{field}: {name!r} is a handle, and the gateway "
                        "lists only its aliases (rule: with gateway.list_aliases_only, Open "
                        "WebUI's models are aliases: it offers only what the gateway lists)"
                    )
        return problems


SERVICE = OpenWebUIService()
