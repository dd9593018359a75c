"""Every rendered file, parsed back and compared with what the model says it must hold."""

from __future__ import annotations

import json
import plistlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from homelab.model import Platform
from homelab.render import HostFile, daemon_files, host_files
from homelab.render.units import reload_command
from homelab.services import Daemon, daemons
from homelab.services import litellm as litellm_files
from homelab.services.litellm import LiteLLM
from homelab.services.mlx import MlxServers
from homelab.services.open_webui import OpenWebUI
from homelab.services.optillm import OptillmProxy
from homelab.services.ov_server import OvServer
from homelab.services.searxng import Searxng
from tests.fast import parse


def files_of(platform: Platform, host: str) -> dict[str, HostFile]:
    return {f.path: f for f in host_files(platform, host)}


def daemon(platform: Platform, host: str, name: str) -> Daemon:
    return next(d for d in daemons(platform, host) if d.name == name)


def mlx(platform: Platform) -> MlxServers:
    found = platform.host("studio").get(MlxServers)
    assert found is not None
    return found


def ov_server(platform: Platform) -> OvServer:
    found = platform.host("mini").get(OvServer)
    assert found is not None
    return found


def gateway_port(platform: Platform) -> int:
    found = platform.host("mini").get(LiteLLM)
    assert found is not None
    return found.listener.port


def router(platform: Platform) -> dict:  # type: ignore[type-arg]
    d = daemon(platform, "mini", "litellm")
    loaded: dict = yaml.safe_load(  # type: ignore[type-arg]
        files_of(platform, "mini")[f"{d.config_dir}/router.yaml"].content
    )
    return loaded


# -- the gateway ---------------------------------------------------------------------------


def test_router_model_list_is_the_routing_table(platform: Platform) -> None:
    entries = router(platform)["model_list"]
    assert [e["model_name"] for e in entries] == [r.handle for r in platform.routes()]


def test_router_context_defaults_come_from_the_registry(platform: Platform) -> None:
    info = {e["model_name"]: e["model_info"] for e in router(platform)["model_list"]}
    for model in mlx(platform).served:
        assert info[model.model_id]["max_input_tokens"] == model.context_length
        default = min(platform.gateway.default_max_output_tokens, model.context_length)
        assert info[model.model_id]["max_output_tokens"] == (model.max_output_tokens or default)


def test_no_route_promises_more_output_than_its_context(platform: Platform) -> None:
    """The shipped data has 32768-token models and a 65536 default: the context wins."""
    short = [m for m in mlx(platform).served if m.context_length < 65536]
    assert short, "the shipped data serves a model with a context under the default"
    for r in platform.routes():
        assert r.max_output_tokens <= r.max_input_tokens, r.handle
    info = {e["model_name"]: e["model_info"] for e in router(platform)["model_list"]}
    for model in short:
        assert info[model.model_id]["max_output_tokens"] == model.context_length


def test_router_settings_and_keys(platform: Platform) -> None:
    config = router(platform)
    gw = platform.gateway
    assert config["router_settings"]["num_retries"] == gw.router.num_retries
    assert config["router_settings"]["cooldown_time"] == gw.router.cooldown_time
    assert config["litellm_settings"]["json_logs"] is True
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_PROXY_KEY"
    assert "master_key" not in config["litellm_settings"], "ignored there by LiteLLM"
    tool = config["search_tools"][0]
    assert tool["search_tool_name"] == "searxng-search"
    assert tool["litellm_params"]["search_provider"] == "searxng"


def test_every_environ_reference_is_provided(platform: Platform) -> None:
    """An unset os.environ/ reference fails only at the first request: catch it here."""
    d = daemon(platform, "mini", "litellm")
    files = files_of(platform, "mini")
    text = files[f"{d.config_dir}/router.yaml"].content
    env = parse.env(files[f"{d.config_dir}/env"].content)
    referenced = set(re.findall(r"os\.environ/([A-Z0-9_]+)", text))
    missing = referenced - set(env) - set(d.secrets)
    assert not missing, f"referenced but set nowhere: {sorted(missing)}"


def test_ov_routes_read_base_and_model_from_env(platform: Platform) -> None:
    d = daemon(platform, "mini", "litellm")
    env = parse.env(files_of(platform, "mini")[f"{d.config_dir}/env"].content)
    for ov in ov_server(platform).models:
        prefix = ov.model_id.upper().replace("-", "_")
        assert (
            env[f"{prefix}_API_BASE"] == f"http://localhost:{ov_server(platform).listener.port}/v1"
        )
        assert env[f"{prefix}_MODEL"] == f"openai/{ov.model_id}"


@pytest.mark.parametrize("via_optillm", [True, False])
def test_optillm_mode(platform: Platform, via_optillm: bool) -> None:
    p = platform.evolve(gateway=platform.gateway.evolve(route_via_optillm=via_optillm))
    table = {r.handle: r for r in p.routes()}
    proxy = p.host("mini").get(OptillmProxy)
    assert proxy is not None
    optillm = f"http://127.0.0.1:{proxy.listener.port}/v1"
    for model in mlx(p).served:
        direct = f"http://{p.addresses['studio']}:{model.port}/v1"
        route = table[model.model_id]
        if via_optillm:
            assert route.api_base == optillm
            assert route.upstream_model == f"router-{model.model_id}"
            internal = table[f"router-{model.model_id}"]
            assert (internal.api_base, internal.internal) == (direct, True)
        else:
            assert route.api_base == direct
            assert f"router-{model.model_id}" not in table
    assert daemon(p, "mini", "optillm").enabled is via_optillm


def test_handles_jsonl_lists_client_handles_only(platform: Platform) -> None:
    d = daemon(platform, "mini", "litellm")
    text = files_of(platform, "mini")[f"{d.config_dir}/handles.jsonl"].content
    listed = [json.loads(line)["handle"] for line in text.splitlines()]
    assert listed == [h.handle for h in platform.handles()]
    assert not [h for h in listed if h.startswith("router-")]
    assert listed == [h["handle"] for h in litellm_files.handles(platform)]


def test_backroom_models_get_no_handle(platform: Platform) -> None:
    handles = {h.handle for h in platform.handles()}
    backroom = [m for m in mlx(platform).models if m.port is None]
    assert backroom, "the shipped data keeps one model in the backroom"
    assert not {m.model_id for m in backroom} & handles


# -- units and plists --------------------------------------------------------------------------


def all_daemons(platform: Platform) -> list[Daemon]:
    return [d for host in platform.hosts for d in daemons(platform, host)]


def listens_on(argv: list[str]) -> tuple[str, str]:
    """(bind, port) an argv gives its server: ``--host H --port P``, or Prometheus's
    ``--web.listen-address=H:P``."""
    for arg in argv:
        if arg.startswith("--web.listen-address="):
            bind, _, port = arg.split("=", 1)[1].rpartition(":")
            return bind, port
    return argv[argv.index("--host") + 1], argv[argv.index("--port") + 1]


def test_mini_units_carry_port_bind_user_and_env(platform: Platform) -> None:
    files = files_of(platform, "mini")
    for d in daemons(platform, "mini"):
        unit = parse.unit(files[d.unit_path].content)
        service = unit["Service"]
        argv = shlex.split(service["ExecStart"][0])
        assert listens_on(argv) == (d.listener.bind, str(d.listener.port)), d.name
        assert service["User"] == [d.user]
        expected_env = [*d.env_files, *([d.secrets_env] if d.secrets_env else [])]
        assert service.get("EnvironmentFile", []) == expected_env, d.name
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_unit_hardening_is_relaxed_only_with_a_reason(platform: Platform) -> None:
    files = files_of(platform, "mini")
    for d in daemons(platform, "mini"):
        text = files[d.unit_path].content
        service = parse.unit(text)["Service"]
        assert service["NoNewPrivileges"] == ["yes"]
        assert service["ProtectSystem"] == ["strict"]
        assert service["ProtectProc"] == ["invisible"], "flags with secrets stay hidden"
        for directive, relax in d.relax.items():
            assert service[directive] == [relax.value]
            assert f"# {relax.why}\n{directive}={relax.value}" in text


def test_loopback_only_daemons_are_fenced(platform: Platform) -> None:
    optillm = daemon(platform, "mini", "optillm")
    service = parse.unit(files_of(platform, "mini")[optillm.unit_path].content)["Service"]
    assert service["IPAddressDeny"] == ["any"]
    assert service["IPAddressAllow"] == ["localhost"]


def test_optillm_runs_its_proxy_approach(platform: Platform) -> None:
    argv = daemon(platform, "mini", "optillm").argv
    i = argv.index("--approach")
    assert argv[i + 1] == "proxy", f"expected --approach proxy, found {argv[i : i + 2]}"


def test_optillm_key_goes_by_flag_not_by_its_env_name(platform: Platform) -> None:
    d = daemon(platform, "mini", "optillm")
    assert "OPTILLM_API_KEY" not in d.secrets, "that variable switches OptiLLM to local inference"
    assert "OPTILLM_API_KEY" not in d.environment
    assert not [a for a in d.argv if "OPTILLM_PROXY_KEY}" in a], "the key is not in argv"


def test_optillm_launcher_adds_the_key_flag_inside_the_process(
    platform: Platform, tmp_path: Path
) -> None:
    """OptiLLM gets --optillm-api-key, the process's visible arguments never hold it, and the
    variable it came from is gone from its environment."""
    d = daemon(platform, "mini", "optillm")
    package = tmp_path / "optillm"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import json, os, sys\n"
        "def main():\n"
        "    cmdline = open('/proc/self/cmdline', 'rb').read().decode()\n"
        "    print(json.dumps({'argv': sys.argv, 'cmdline': cmdline,\n"
        "                      'env': 'OPTILLM_PROXY_KEY' in os.environ}))\n"
        "    return 0\n"
    )
    code = d.argv[d.argv.index("-c") + 1]
    rest = list(d.argv[d.argv.index("-c") + 2 :])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "OPTILLM_PROXY_KEY": "s3cret-k"}
    result = subprocess.run(
        [sys.executable, "-c", code, *rest], env=env, capture_output=True, text=True, check=True
    )
    seen = json.loads(result.stdout)
    assert seen["argv"][-2:] == ["--optillm-api-key", "s3cret-k"]
    assert seen["argv"][1:-2] == rest
    assert "s3cret-k" not in seen["cmdline"]
    assert seen["env"] is False


def test_studio_plists(platform: Platform) -> None:
    files = files_of(platform, "studio")
    for d in daemons(platform, "studio"):
        plist = plistlib.loads(files[d.unit_path].content.encode())
        assert d.unit_path == f"/Library/LaunchDaemons/{d.unit}.plist"
        assert plist["Label"] == d.unit
        args = plist["ProgramArguments"]
        assert listens_on(args)[1] == str(d.listener.port)
        assert plist["UserName"] == platform.host("studio").run_as
        assert plist["Disabled"] is (not d.enabled)
        assert plist["KeepAlive"] is True
        if d.secrets_env:
            assert args[:2] == ["/bin/sh", "-c"] and args[3] == d.secrets_env
        assert (files[d.unit_path].owner, files[d.unit_path].group) == ("root", "wheel")


def test_studio_on_linux_gets_units(platform: Platform) -> None:
    # launchd jobs to take over exist only on macOS; Linux stands in for the Mac its MLX needs
    studio = platform.host("studio").evolve(system="linux", stand_in_for="macos", takeover={})
    linux = platform.evolve(hosts={**platform.hosts, "studio": studio})
    assert daemons(linux, "studio")
    for d in daemons(linux, "studio"):
        assert d.unit_path == f"/etc/systemd/system/{d.name}.service"
        unit = parse.unit(daemon_files(linux, d)[0].content)
        assert "ExecStart" in unit["Service"]


def test_mlx_servers_serve_their_registry_entry(platform: Platform) -> None:
    by_port = {m.port: m for m in mlx(platform).served}
    for d in daemons(platform, "studio"):
        if d.name.startswith("mlx-"):
            model = by_port[d.listener.port]
            assert d.argv[d.argv.index("--model") + 1] == model.source_path
            assert d.listener.lan


# -- the other files ---------------------------------------------------------------------------


def test_mlx_registry_json(platform: Platform) -> None:
    files = files_of(platform, "studio")
    registry = json.loads(files[mlx(platform).registry_path].content)["models"]
    assert set(registry) == {m.model_id for m in mlx(platform).models}
    for m in mlx(platform).models:
        entry = registry[m.model_id]
        assert (entry["source_path"], entry["cache_path"], entry["port"]) == (
            m.source_path,
            m.cache_path,
            m.port,
        )
        assert entry["handle"] == (m.model_id if m.port else None)


def test_searxng_settings(platform: Platform) -> None:
    d = daemon(platform, "mini", "searxng")
    settings = yaml.safe_load(
        files_of(platform, "mini")[d.environment["SEARXNG_SETTINGS_PATH"]].content
    )
    assert settings["use_default_settings"] is True
    assert "json" in settings["search"]["formats"]
    assert settings["server"]["limiter"] is False
    assert settings["server"]["bind_address"] == "127.0.0.1"
    searxng = platform.host("mini").get(Searxng)
    assert searxng is not None
    assert settings["server"]["port"] == searxng.listener.port
    assert "secret_key" not in settings["server"], "the secret comes from SEARXNG_SECRET"
    assert "SEARXNG_SECRET" in d.secrets


def test_optillm_proxy_config_points_at_the_gateway_only(platform: Platform) -> None:
    d = daemon(platform, "mini", "optillm")
    path = f"{d.environment['HOME']}/.optillm/proxy_config.yaml"
    f = files_of(platform, "mini")[path]
    config = yaml.safe_load(f.content)
    gateway = f"http://127.0.0.1:{gateway_port(platform)}/v1"
    assert [p["base_url"] for p in config["providers"]] == [gateway]
    assert config["providers"][0]["api_key"] == "${LITELLM_PROXY_KEY}"
    assert (f.owner, f.mode) == (d.user, "0600")


def test_open_webui_env(platform: Platform) -> None:
    ow = platform.host("mini").get(OpenWebUI)
    assert ow is not None
    d = daemon(platform, "mini", "open-webui")
    env = parse.env(files_of(platform, "mini")[ow.env_file].content)
    assert ow.env_file == "/etc/open-webui/env"
    assert env["OPENAI_API_BASE_URL"] == f"http://127.0.0.1:{gateway_port(platform)}/v1"
    assert env["DATA_DIR"] == d.state_dir
    assert env["STATIC_DIR"].startswith(d.state_dir + "/"), "the package is read-only to it"
    assert env["ENABLE_OLLAMA_API"] == "False"
    assert env["ENABLE_PERSISTENT_CONFIG"] == "False"
    assert "OFFLINE_MODE" not in env, "the real Mini reaches its hub: not offline"
    assert {"WEBUI_SECRET_KEY", "OPENAI_API_KEY"} <= set(d.secrets)


def test_open_webui_is_offline_in_the_lab_only(lab_platform: Platform) -> None:
    ow = lab_platform.host("mini").get(OpenWebUI)
    assert ow is not None
    env = parse.env(files_of(lab_platform, "mini")[ow.env_file].content)
    assert env["OFFLINE_MODE"] == "true" and env["HF_HUB_OFFLINE"] == "1", env
    assert env["RAG_EMBEDDING_MODEL"] == "", "no hub in the lab: no embedding model to load"


def test_ov_server_env(platform: Platform) -> None:
    ov = ov_server(platform)
    env = parse.env(files_of(platform, "mini")[ov.env_file].content)
    assert ov.env_file == "/etc/homelab-llm/ov-server.env"
    assert env["OV_DEVICE"] == "GPU"
    assert set(env) == {"OV_DEVICE", "OV_REGISTRY_PATH", "OV_MODEL_PATH", "OV_LOG_LEVEL"}
    unit = parse.unit(files_of(platform, "mini")["/etc/systemd/system/ov-server.service"].content)
    assert unit["Service"]["SupplementaryGroups"] == ["render video"]


def test_no_secret_value_is_rendered(platform: Platform) -> None:
    """Secrets appear only as references: no assignment of a secret variable in any file."""
    names = {name for d in all_daemons(platform) for name in d.secrets}
    for host in platform.hosts:
        for f in host_files(platform, host):
            for name in names:
                assert not re.search(rf"^\s*{name}\s*=", f.content, re.M), (f.path, name)


def test_secret_env_files_are_separate_per_service(platform: Platform) -> None:
    paths = [d.secrets_env for d in all_daemons(platform) if d.secrets_env]
    assert len(paths) == len(set(paths))
    for d in all_daemons(platform):
        if d.secrets_env:
            assert d.secrets_env.startswith(platform.host(d.host).layout.secrets + "/"), d.name


def test_the_gateway_takes_its_socket_from_systemd(platform: Platform) -> None:
    gw = daemon(platform, "mini", "litellm")
    files = files_of(platform, "mini")
    assert gw.socket_path is not None
    socket = parse.unit(files[gw.socket_path].content)
    litellm = platform.host("mini").get(LiteLLM)
    assert litellm is not None
    listener = litellm.listener
    assert socket["Socket"]["ListenStream"] == [f"{listener.bind}:{listener.port}"]
    assert socket["Socket"]["Service"] == [gw.unit]
    unit = parse.unit(files[gw.unit_path].content)
    assert unit["Unit"]["Requires"] == [gw.socket_unit], "a restart keeps the socket open"
    assert unit["Service"]["ExecReload"] == [reload_command(gw.workers)]


def test_the_gateway_is_ready_when_a_worker_says_so(platform: Platform) -> None:
    gw = daemon(platform, "mini", "litellm")
    unit = parse.unit(files_of(platform, "mini")[gw.unit_path].content)["Service"]
    assert (unit["Type"], unit["NotifyAccess"]) == (["notify"], ["all"]), (
        f"expected Type=notify from any of its processes, found {unit['Type']}, "
        f"{unit.get('NotifyAccess')}"
    )


def test_the_gateways_handover_serves_on_its_socket_only_when_started(
    platform: Platform,
) -> None:
    gw = daemon(platform, "mini", "litellm")
    assert gw.handover_path is not None, "the gateway restarts through a handover"
    files = files_of(platform, "mini")
    handover = parse.unit(files[gw.handover_path].content)
    main = parse.unit(files[gw.unit_path].content)
    assert handover["Service"]["Sockets"] == [gw.socket_unit], "it takes the gateway's socket"
    assert handover["Service"]["ExecStart"] == main["Service"]["ExecStart"], "the same process"
    assert handover["Service"]["Restart"] == ["no"], "it serves only while a deploy runs it"
    assert "Install" not in handover, "nothing starts it at boot"


def test_the_gateway_and_open_webui_alone_have_socket_units(platform: Platform) -> None:
    held = {d.name for host in platform.hosts for d in daemons(platform, host) if d.socket_path}
    assert held == {"litellm", "open-webui"}


def test_open_webui_takes_its_socket_from_systemd(platform: Platform) -> None:
    ow = daemon(platform, "mini", "open-webui")
    files = files_of(platform, "mini")
    assert ow.socket_path is not None
    socket = parse.unit(files[ow.socket_path].content)
    assert socket["Socket"]["ListenStream"] == [f"{ow.listener.bind}:{ow.listener.port}"]
    unit = parse.unit(files[ow.unit_path].content)
    assert unit["Unit"]["Requires"] == [ow.socket_unit], "a restart keeps the socket open"


def test_open_webui_runs_the_serve_wrapper_it_is_given(platform: Platform) -> None:
    ow = daemon(platform, "mini", "open-webui")
    wrapper = next(a for a in ow.argv if a.endswith("/serve.py"))
    assert wrapper in files_of(platform, "mini"), f"{wrapper} is not among the Mini's files"


def test_mlx_handles_via_optillm_fall_back_to_their_direct_route(platform: Platform) -> None:
    config = yaml.safe_load(litellm_files.router_yaml(platform))
    fallbacks = {k: v for item in config["router_settings"]["fallbacks"] for k, v in item.items()}
    names = {m["model_name"] for m in config["model_list"]}
    for model in mlx(platform).served:
        assert fallbacks[model.model_id] == [f"router-{model.model_id}"], model.model_id
        assert f"router-{model.model_id}" in names
