"""The Mini (Linux, systemd): the gateway and the services around it.

A piece of the platform: ``group_data/all.py`` assembles every host's piece and validates the
whole. It lives in ``hosts/`` so that pyinfra does not run it as group data on its own: hosts
read ``host.data.platform`` only, and a problem here is reported with all the others. Each
service it runs is placed by its key; nested parts are plain dicts so that the host's model
validates them all at once and reports every problem with its full path
(``mini.ov_server.models[0].model_id``).
"""

from homelab.groupdata import validating
from homelab.model import Host

#: The hand-built setup's login account: its units ran as it, from its home.
LEGACY_USER = "christopherbailey"

with validating("mini", top="Host"):
    host = Host(
        system="linux",
        litellm=dict(),
        ov_server=dict(
            # The operator's own FastAPI app, from its own repository.
            source=dict(url="https://github.com/christopherbailey/ov-server", ref="v0.3.0"),
            device="GPU",  # AUTO and MULTI:GPU,CPU are under evaluation (seed)
            models=(
                dict(model_id="ov-qwen2-5-3b-instruct-fp16", context_length=32768),
                dict(model_id="ov-qwen2-5-1-5b-instruct-fp16", context_length=32768),
                dict(model_id="ov-phi-4-mini-instruct-fp16", context_length=131072),
                dict(model_id="ov-phi-3-5-mini-instruct-fp16", context_length=131072),
                dict(model_id="ov-llama-3-2-3b-instruct-fp16", context_length=131072),
                dict(model_id="ov-mistral-7b-instruct-v0-3-fp16", context_length=32768),
            ),
            # The operator's warm-up profiles (ovctl's ov-profiles/*.txt): the active one's
            # models are loaded right after the server starts.
            profiles={
                "ov-only-fast": ("ov-qwen2-5-1-5b-instruct-fp16", "ov-phi-4-mini-instruct-fp16"),
                "ov-only-safe": (
                    "ov-qwen2-5-1-5b-instruct-fp16",
                    "ov-phi-4-mini-instruct-fp16",
                    "ov-phi-3-5-mini-instruct-fp16",
                    "ov-llama-3-2-3b-instruct-fp16",
                ),
                "ov-only-expanded": (
                    "ov-qwen2-5-3b-instruct-fp16",
                    "ov-qwen2-5-1-5b-instruct-fp16",
                    "ov-phi-4-mini-instruct-fp16",
                    "ov-phi-3-5-mini-instruct-fp16",
                    "ov-llama-3-2-3b-instruct-fp16",
                    "ov-mistral-7b-instruct-v0-3-fp16",
                ),
            },
            active_profile="ov-only-fast",
        ),
        optillm=dict(),
        searxng=dict(
            source=dict(
                url="https://github.com/searxng/searxng",
                ref="a7281c5ed5d04855b4ee4a3d13033996a83444a4",
            ),
        ),
        open_webui=dict(),
        # Prometheus, its rules, Alertmanager, the blackbox exporter (README: Monitoring).
        monitoring=dict(receivers=dict()),
        node_exporter=dict(),
        mcp_tools=dict(
            tools=(
                dict(
                    name="web-fetch",
                    purpose="fetch a URL as clean, model-ready text; search the web through the "
                    "gateway",
                    tools=("web.fetch", "search.web"),
                    notes="Returns cleaned text plus optional raw HTML.",
                ),
            ),
        ),
        # What runs today, built by hand (its repository: platform/ops/systemd): the first deploy
        # stops and disables each before the daemon replacing it starts; three have our names.
        takeover=dict(
            units=(
                dict(unit="litellm-orch.service", replaced_by=("litellm",), user=LEGACY_USER),
                dict(unit="optillm-proxy.service", replaced_by=("optillm",), user=LEGACY_USER),
                dict(
                    unit="searxng.service",
                    replaced_by=("searxng",),
                    same_name=True,
                    user=LEGACY_USER,
                ),
                dict(
                    unit="open-webui.service",
                    replaced_by=("open-webui",),
                    same_name=True,
                    user=LEGACY_USER,
                ),
                dict(
                    unit="ov-server.service",
                    replaced_by=("ov-server",),
                    same_name=True,
                    user=LEGACY_USER,
                ),
            ),
            # Its users, their passwords and chats: imported once into the new data directory.
            open_webui_data=f"/home/{LEGACY_USER}/.open-webui",
        ),
    )
