"""The LiteLLM proxy: the platform's one gateway, on whichever host the data places it.

Files: ``router.yaml`` (checked by the installed LiteLLM's own loader before it replaces the
running one, see ``deploys/litellm.py``), its environment, and ``handles.jsonl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from homelab import PROJECT_ROOT
from homelab.model.base import LOOPBACK, Bool, Exposure, Listener, Name
from homelab.model.common import PythonPackage, Service
from homelab.model.naming import ROUTER_PREFIX
from homelab.model.routing import Route
from homelab.render.engine import render
from homelab.render.files import HostFile, env_file
from homelab.services.base import Daemon, ServiceModule, common, serve_on

if TYPE_CHECKING:
    from homelab.model.platform import Platform

#: LiteLLM 1.110.2's ``[proxy]`` extra, less the packages PyPI does not carry at the versions
#: that extra names (litellm-proxy; litellm-proxy-extras and litellm-enterprise post-releases):
#: the proxy itself ships inside the litellm wheel.
LITELLM_PROXY_EXTRA = (
    "gunicorn>=23.0.0,<24.0",
    "uvicorn>=0.33.0,<1.0",
    "granian>=2.7.4,<3.0",
    "uvloop>=0.22.1,<1.0",
    "fastapi>=0.136.3,<1.0",
    "starlette>=1.0.1,<2.0",
    "backoff>=2.2.1,<3.0",
    "pyyaml>=6.0.3,<7.0",
    "rq>=2.7.0,<3.0",
    "orjson>=3.11.6,<4.0",
    "hiredis>=3.0.0,<4.0",
    "apscheduler>=3.11.2,<4.0",
    "fastapi-sso>=0.19.0,<1.0",
    "pyjwt>=2.13.0,<3.0",
    "python-multipart>=0.0.27,<1.0",
    "cryptography>=49.0.0,<51.0",
    "pynacl>=1.6.2,<2.0",
    "websockets>=15.0.1,<16.0",
    "boto3>=1.43.117,<2.0",
    "azure-identity>=1.25.2,<2.0",
    "azure-storage-blob>=12.28.0,<13.0",
    "mcp>=2.3.0,<3",
    "httpx2>=2.10.0,<3",
    "pydantic>=2.12.0,<3",
    "restrictedpython>=8.5,<9.0",
    "rich>=13.9.4,<14.0",
    "inquirerpy>=0.3.4,<1.0",
    "tomlkit>=0.13.3,<1.0",
    "polars>=1.38.1,<2.0",
    "soundfile>=0.12.1,<1.0",
    "pyroscope-io>=0.8.16,<1.0",
    "expression>=5.6.0,<6.0",
    "backports-zstd>=1.0.0,<2.0",
    "semver>=3.0.4,<4",
    "litellm-proxy-extras==0.4.110",
    "litellm-enterprise==0.1.83",
    # An optional import LiteLLM retries on every request when it is missing.
    "opentelemetry-sdk",
)

#: A worker is a whole LiteLLM process (~300 MB resident): derived counts stop here.
MAX_DERIVED_WORKERS = 8


def workers_for(cores: int | None) -> int:
    """One uvicorn worker per core (capped); LiteLLM's own default, one, when cores are unknown.

    The gateway is CPU-bound in Python between the client and the upstream: a second process
    uses a second core, a third on two cores only adds switching (measured: docs/PERFORMANCE.md).
    """
    if cores is None:
        return 1
    return max(1, min(cores, MAX_DERIVED_WORKERS))


class LiteLLM(Service):
    kind: ClassVar[str] = "litellm"
    key: ClassVar[str] = "litellm"
    listener: Listener = Listener(
        port=4000, exposure=Exposure.LAN, lan_reason="the one gateway LAN clients use"
    )
    user: Name = "litellm"
    package: PythonPackage = PythonPackage(
        requirement="litellm",
        version="1.110.2",
        # Its Prometheus callback imports prometheus_client, which no extra of it names.
        also=(*LITELLM_PROXY_EXTRA, "prometheus-client>=0.20,<1"),
    )
    host_cores: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="CPU cores of the host it runs on; sizes the workers when they are not set",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="uvicorn workers (--num_workers); unset: one per core of host_cores",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        default="WARNING",
        description="LITELLM_LOG; it also sets uvicorn's level under json_logs, so above INFO "
        "the per-request access lines are not written; None leaves it unset (LiteLLM's default)",
    )
    lean: Bool = Field(
        default=True,
        description="turn off what the platform does not use: spend logs and budget "
        "reservations (no database), the release check at start-up",
    )
    open_files: int = Field(
        default=65536,
        ge=1024,
        le=1048576,
        description="LimitNOFILE: each client and each upstream call holds a socket; the "
        "default 1024 runs out under a burst of streaming requests",
    )
    server: Literal["uvicorn", "gunicorn"] = Field(
        default="gunicorn",
        description="what runs the workers: gunicorn imports LiteLLM once and forks them (back "
        "in ~6 s after a crash on two cores), takes its listening socket from systemd (a "
        "restart drops no request) and reloads its config on SIGHUP; uvicorn starts each "
        "worker from scratch (~10 s) and binds the port itself",
    )

    metrics: Bool = Field(
        default=True,
        description="LiteLLM's Prometheus callback: /metrics (behind the gateway's key) counts "
        "requests, failures, tokens and latency per model name",
    )

    @property
    def preforked(self) -> bool:
        """Whether the workers are forked by gunicorn (``--run_gunicorn``)."""
        return self.server == "gunicorn"

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers is not None else workers_for(self.host_cores)


def gateway_host(platform: Platform) -> str:
    """The host the data places the gateway on (the platform's rules make it exactly one)."""
    for name, host in platform.hosts.items():
        if isinstance(host.services.get(LiteLLM.key), LiteLLM):
            return name
    raise LookupError("no host runs the gateway (rule: exactly one host places litellm)")


def gateway(platform: Platform) -> LiteLLM:
    """The gateway's options."""
    found = platform.host(gateway_host(platform)).get(LiteLLM)
    assert found is not None
    return found


def gateway_url(platform: Platform, path: str = "/v1", seen_from: str | None = None) -> str:
    """How a service reaches the gateway: loopback on the gateway's host, else its address."""
    host = gateway_host(platform)
    address = LOOPBACK if seen_from in (None, host) else platform.addresses[host]
    return f"http://{address}:{gateway(platform).listener.port}{path}"


def search_url(platform: Platform, seen_from: str | None = None) -> str:
    """The gateway's web search endpoint (LiteLLM's ``/v1/search/<tool>``)."""
    return gateway_url(platform, f"/v1/search/{platform.gateway.search_tool}", seen_from)


def on_gateway_host(platform: Platform, kind: type[Any], why: str) -> list[str]:
    """The rule for a service the gateway reaches on loopback: it runs on the gateway's host."""
    try:
        home = gateway_host(platform)
    except LookupError:
        return []  # the gateway's own rule says so
    return [
        f"{name}.{kind.key}: it runs on {name}, the gateway on {home} (rule: {why})"
        for name, host in platform.hosts.items()
        if host.services.get(kind.key) is not None and name != home
    ]


def reaches_gateway(platform: Platform, kind: type[Any]) -> list[str]:
    """The rule for a client of the gateway on another host: the gateway listens on the LAN."""
    try:
        home = gateway_host(platform)
    except LookupError:
        return []
    if gateway(platform).listener.lan:
        return []
    return [
        f"{name}.{kind.key}: it calls the gateway on {home}, which listens "
        f"on loopback only (rule: a gateway client on another host needs the gateway on the LAN)"
        for name, host in platform.hosts.items()
        if host.services.get(kind.key) is not None and name != home
    ]


#: Keep start-up off the network: the cost map ships with the package.
OFFLINE = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY_DISABLED": "true"}

#: With ``lean``: no look-up of the latest release at start (the hosts are offline).
LEAN_ENV = {"LITELLM_DISABLE_LATEST_RELEASE_CHECK": "true"}

#: With ``lean``: ``general_settings`` for features that need a database the platform has not.
LEAN_GENERAL_SETTINGS = (("disable_spend_logs", True), ("disable_budget_reservation", True))


#: With ``metrics``: every worker writes its counters where /metrics reads them all (else each
#: scrape would see one worker's): the unit's private /tmp, empty at each start.
METRICS_ENV = {"PROMETHEUS_MULTIPROC_DIR": "/tmp"}


def environment(platform: Platform) -> dict[str, str]:
    lean = LEAN_ENV if gateway(platform).lean else {}
    metrics = METRICS_ENV if gateway(platform).metrics else {}
    env = {**OFFLINE, **lean, **metrics}
    for service in platform.modules():
        env.update(service.gateway_environment(platform))
    for route in platform.routes():
        env.update(route.env)
    return env


#: ``handles.jsonl`` keeps the schema the operator's other tools read (upstream's
#: ``scripts/validate_handles.py``): these fields, in this order, and no others.
HANDLE_FIELDS = ("handle", "kind", "invoke", "managed_by", "endpoint_ref", "selector")


def endpoints(platform: Platform) -> dict[str, tuple[str, str]]:
    """(endpoint_ref, managed_by) of every client handle, as each service names its own."""
    out: dict[str, tuple[str, str]] = {}
    for service in platform.modules():
        out.update(service.endpoints(platform))
    return out


def handles(platform: Platform) -> list[dict[str, object]]:
    """The client-facing handles, one row each in the operator's registry schema (internal
    router-* names are left out, as in the seed). A client sends the handle as its model."""
    where = endpoints(platform)
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for r in platform.routes():
        if r.internal or r.alias_of is not None or r.handle in seen:
            continue  # a replica is one handle; an alias is the gateway's name for handles
        seen.add(r.handle)
        endpoint_ref, managed_by = where[r.handle]
        values = (r.handle, "model", "openai-chat", managed_by, endpoint_ref, {"model": r.handle})
        rows.append(dict(zip(HANDLE_FIELDS, values, strict=True)))
    return rows


def fallbacks(platform: Platform) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The data's fallbacks, then each name's direct routes where it goes through OptiLLM.

    OptiLLM passes plain requests through unchanged, so while it restarts (or fails) the
    gateway sends them straight to the model servers instead of failing them: a handle routed
    through OptiLLM falls back to its ``router-*`` name, an alias to those of its handles,
    after any fallbacks the data gives it (LiteLLM tries them in order).
    """
    routes = platform.routes()
    direct = {r.handle for r in routes if r.internal}
    via_optillm = {
        r.handle for r in routes if not r.internal and ROUTER_PREFIX + r.handle in direct
    }
    # An alias straight to the servers has nothing to fall back to past them.
    behind = {a.name: a.handles for a in platform.gateway.aliases if a.through_optillm}
    direct_aliases = {a.name for a in platform.gateway.aliases if not a.through_optillm}
    names = [r.handle for r in routes if not r.internal]
    out: dict[str, tuple[str, ...]] = {
        name: tuple(others) for name, others in platform.gateway.router.fallbacks
    }
    for name in dict.fromkeys(names):
        if name in direct_aliases:
            continue
        handles = behind.get(name, (name,))
        derived = tuple(ROUTER_PREFIX + h for h in handles if h in via_optillm)
        if derived and (name not in out or name in behind):
            out[name] = (*out.get(name, ()), *derived)
    return tuple(out.items())


#: The listing hook's module (gateway.list_aliases_only), beside router.yaml, and the
#: instance in it that router.yaml's callbacks name.
LISTING_FILE = "listing.py"
LISTING_INSTANCE = "aliases_only"


def listing_module(platform: Platform) -> str:
    """Where the listing hook's module goes on the gateway's host: beside router.yaml."""
    layout = platform.host(gateway_host(platform)).layout
    return f"{layout.config_dir(LiteLLMService.name)}/{LISTING_FILE}"


def listing_callback(platform: Platform) -> str | None:
    """router.yaml's callbacks entry for the listing hook; None when the switch is off.

    LiteLLM looks for ``<module>.py`` by ``os.path.join`` of the loaded config's folder and
    the entry's dotted parts: an absolute module path replaces that folder, so the module is
    found wherever the config is loaded from (the deploy checks a candidate router.yaml in
    its staging folder; the benchmarks start gateways on router.yaml files of their own).
    """
    if not platform.gateway.list_aliases_only:
        return None
    return f"{listing_module(platform).removesuffix('.py')}.{LISTING_INSTANCE}"


def listing_py(platform: Platform) -> str:
    """The listing hook's module: it keeps the aliases' names."""
    names = [a.name for a in platform.gateway.aliases]
    return render("litellm/listing.py.j2", names=names, instance=LISTING_INSTANCE)


def probed_groups(platform: Platform) -> list[str]:
    """The groups with more than one deployment on a host (replicas, an alias over several
    servers): what the health checks probe. A group of one has nowhere else to send its
    requests, and a probe of it (a one-token chat every few seconds) would only load it."""
    hosts: dict[str, set[str]] = {}
    for r in platform.routes():
        if r.host is not None:
            hosts.setdefault(r.handle, set()).add(f"{r.host} {r.api_base}")
    return sorted(name for name, where in hosts.items() if len(where) > 1)


def router_yaml(platform: Platform, extra_routes: tuple[Route, ...] = ()) -> str:
    """The gateway's config; ``extra_routes`` (benchmarks only) are appended to the model's."""
    gw = platform.gateway
    interval = gw.router.health_check_interval
    general = LEAN_GENERAL_SETTINGS if gateway(platform).lean else ()
    if interval is not None:
        general = (
            *general,
            ("background_health_checks", True),
            ("health_check_interval", interval),
        )
    return render(
        "litellm/router.yaml.j2",
        routes=(*platform.routes(), *extra_routes),
        router=gw.router,
        fallbacks=fallbacks(platform),
        gateway=gw,
        probed=probed_groups(platform) if interval is not None else [],
        general_settings=general,
        callbacks=[
            *([listing] if (listing := listing_callback(platform)) else []),
            *(["prometheus"] if gateway(platform).metrics else []),
        ],
        listing=listing_callback(platform),
    )


def alias_problems(platform: Platform) -> list[str]:
    """An alias names served handles, is not one itself, and promises one context."""
    problems = []
    served = {h.handle for h in platform.handles()}
    context = {r.handle: r.max_input_tokens for r in platform.routes() if not r.internal}
    seen: set[str] = set()
    for i, alias in enumerate(platform.gateway.aliases):
        at = f"gateway.aliases[{i}]"
        if alias.name in served:
            problems.append(
                f"{at}.name: {alias.name!r} is also a handle (rule: no alias is also a handle)"
            )
        if alias.name in seen:
            problems.append(f"{at}.name: {alias.name!r} is declared twice (rule: once each)")
        seen.add(alias.name)
        for j, handle in enumerate(alias.handles):
            if handle not in served:
                problems.append(
                    f"{at}.handles[{j}]: {handle!r} is not a served handle (rule: an alias "
                    "names handles the gateway serves; a backroom model has none)"
                )
        lengths = {h: context[h] for h in alias.handles if h in context}
        if len(set(lengths.values())) > 1 and not alias.context_differs_because:
            problems.append(
                f"{at}.handles: their context lengths differ ({lengths}) (rule: an alias's "
                "handles agree on the context it promises, or context_differs_because says why)"
            )
    return problems


def listing_problems(platform: Platform) -> list[str]:
    """Listing only the aliases needs an alias, and a module path LiteLLM can read."""
    if not platform.gateway.list_aliases_only:
        return []
    problems = []
    if not platform.gateway.aliases:
        problems.append(
            "gateway.list_aliases_only: on with no aliases, /v1/models would list nothing "
            "(rule: listing only the aliases needs at least one alias)"
        )
    try:
        module = listing_module(platform)
    except LookupError:
        return problems  # the gateway's own rule says so
    if "." in module.removesuffix(".py"):
        problems.append(
            f"gateway.list_aliases_only: its module {module} has a dot in its folder, and "
            "LiteLLM splits a callback's name at its dots (rule: the gateway's config dir "
            "has no dot in its path)"
        )
    return problems


def fallback_problems(platform: Platform) -> list[str]:
    """Fallbacks name handles or aliases, and never lead back to where they started."""
    problems = []
    names = {h.handle for h in platform.handles()} | {a.name for a in platform.gateway.aliases}
    router = platform.gateway.router
    for field, pairs in (
        ("fallbacks", router.fallbacks),
        ("context_window_fallbacks", router.context_window_fallbacks),
    ):
        graph: dict[str, set[str]] = {}
        for i, (name, others) in enumerate(pairs):
            graph.setdefault(name, set()).update(others)
            for other in (name, *others):
                if other not in names:
                    problems.append(
                        f"gateway.router.{field}[{i}]: {other!r} is not a declared handle or "
                        "alias (rule: fallbacks name handles and aliases the gateway serves)"
                    )
        cycle = _cycle(graph)
        if cycle:
            problems.append(
                f"gateway.router.{field}: {' -> '.join(cycle)} comes back to where it began "
                "(rule: no fallback cycle)"
            )
    return problems


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """A path that returns to its start in ``graph``, or [] when there is none."""
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return []
        for nxt in sorted(graph.get(node, ())):
            found = walk(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return []

    for start in sorted(graph):
        found = walk(start, [])
        if found:
            return found
    return []


#: LiteLLM's CLI with what a reload and a stop need on top (read it for what and why).
SERVE = PROJECT_ROOT / "templates" / "litellm" / "serve.py"


def serve_path(install_dir: str) -> str:
    return f"{install_dir}/{SERVE.name}"


class LiteLLMService(ServiceModule[LiteLLM]):
    name = "litellm"
    options = LiteLLM

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        litellm = self.on(platform, host)
        if litellm is None:
            return ()
        h, gw = platform.host(host), platform.gateway
        config_dir = h.layout.config_dir(self.name)
        router = f"{config_dir}/router.yaml"
        secrets = {gw.proxy_key.env: gw.proxy_key}
        if gw.uses_optillm:
            secrets[gw.optillm_key.env] = gw.optillm_key
        env = f"{config_dir}/env"
        venv = h.layout.venv(self.name)
        secrets_env = h.layout.secrets_env(self.name)
        serve = serve_path(h.layout.install_dir(self.name))
        program = (
            (f"{venv}/bin/python", serve, "--env-file", env, "--env-file", secrets_env, "--")
            if litellm.preforked
            else (f"{venv}/bin/litellm",)
        )
        daemon = Daemon(
            name=self.name,
            description="LiteLLM proxy: the platform's one gateway",
            user=litellm.user,
            argv=(
                *program,
                "--config",
                router,
                *serve_on(litellm.listener),
                "--num_workers",
                str(litellm.worker_count),
                *(("--run_gunicorn",) if litellm.preforked else ()),
            ),
            listener=litellm.listener,
            where=f"{host}.{self.key}.listener.port",
            health="/health/liveliness",
            enabled=litellm.enabled,
            requirements=litellm.package.requirements(h.system),
            env_files=(env,),
            config=router,
            open_files=litellm.open_files,
            environment={"LITELLM_LOG": litellm.log_level} if litellm.log_level else {},
            secrets=secrets,
            socket_activated=litellm.preforked,
            notifies_ready=litellm.preforked,
            hands_over=litellm.preforked,
            reloadable=litellm.preforked,
            reload_files=(router, listing_module(platform), env, secrets_env)
            if litellm.preforked
            else (),
            workers=litellm.worker_count,
            **common(platform, host),
        )
        return (daemon,)

    def placement_problems(self, platform: Platform) -> list[str]:
        hosts = [name for name, _ in self.placed(platform)]
        if len(hosts) != 1:
            return [
                f"hosts: {len(hosts)} hosts place litellm ({', '.join(hosts) or 'none'}) "
                "(rule: exactly one gateway)"
            ]
        return []

    def problems(self, platform: Platform) -> list[str]:
        return alias_problems(platform) + listing_problems(platform) + fallback_problems(platform)

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        assert daemon.config is not None
        # Before router.yaml: the check of a candidate router.yaml loads the module it names.
        # Always there (router.yaml names it only with the switch on): turning the switch off
        # leaves no stale file behind.
        listing = HostFile(
            path=listing_module(platform),
            content=listing_py(platform),
            group=daemon.user,
            mode="0640",
            restarts=(daemon.name,),
        )
        return [
            listing,
            HostFile(
                path=daemon.config,
                content=router_yaml(platform),
                group=daemon.user,
                mode="0640",
                restarts=(daemon.name,),
            ),
            env_file(daemon.env_files[0], "LiteLLM environment", environment(platform), daemon),
            HostFile(
                path=f"{daemon.config_dir}/handles.jsonl",
                content=render("litellm/handles.jsonl.j2", handles=handles(platform)),
            ),
            *(
                [
                    HostFile(
                        path=serve_path(daemon.install_dir),
                        content=SERVE.read_text(),
                        restarts=(daemon.name,),
                    )
                ]
                if gateway(platform).preforked
                else []
            ),
        ]


SERVICE = LiteLLMService()
