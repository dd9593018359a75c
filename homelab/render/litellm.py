"""The gateway's files: router.yaml, its environment, and handles.jsonl."""

from __future__ import annotations

from homelab.daemons import Daemon
from homelab.model import Platform, routes
from homelab.model.base import LOOPBACK
from homelab.model.routing import Route
from homelab.render.engine import render
from homelab.render.files import HostFile, config_of, env_file

#: Keep start-up off the network: the cost map ships with the package.
OFFLINE = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY_DISABLED": "true"}

#: With ``lean``: no look-up of the latest release at start (the hosts are offline).
LEAN_ENV = {"LITELLM_DISABLE_LATEST_RELEASE_CHECK": "true"}

#: With ``lean``: ``general_settings`` for features that need a database the platform has not.
LEAN_GENERAL_SETTINGS = (("disable_spend_logs", True), ("disable_budget_reservation", True))


def environment(platform: Platform) -> dict[str, str]:
    searxng = platform.mini.searxng.listener
    lean = LEAN_ENV if platform.mini.litellm.lean else {}
    env = {**OFFLINE, **lean, "SEARXNG_API_BASE": f"http://{LOOPBACK}:{searxng.port}"}
    for route in routes(platform):
        env.update(route.env)
    return env


def handles(platform: Platform) -> list[dict[str, object]]:
    """The client-facing handles (internal router-* names are left out, as in the seed)."""
    return [
        {
            "handle": r.handle,
            "backend": r.backend.value,
            "upstream_model": r.upstream_model,
            "max_input_tokens": r.max_input_tokens,
            "max_output_tokens": r.max_output_tokens,
        }
        for r in routes(platform)
        if not r.internal
    ]


def router_yaml(platform: Platform, extra_routes: tuple[Route, ...] = ()) -> str:
    """The gateway's config; ``extra_routes`` (benchmarks only) are appended to the model's."""
    gw = platform.gateway
    return render(
        "litellm/router.yaml.j2",
        routes=(*routes(platform), *extra_routes),
        router=gw.router,
        gateway=gw,
        general_settings=LEAN_GENERAL_SETTINGS if platform.mini.litellm.lean else (),
    )


def files(platform: Platform, daemon: Daemon) -> list[HostFile]:
    return [
        HostFile(
            path=config_of(daemon),
            content=router_yaml(platform),
            group=daemon.user,
            mode="0640",
            restarts=(daemon.name,),
        ),
        env_file(f"{daemon.config_dir}/env", "LiteLLM environment", environment(platform), daemon),
        HostFile(
            path=f"{daemon.config_dir}/handles.jsonl",
            content=render("litellm/handles.jsonl.j2", handles=handles(platform)),
        ),
    ]
