"""The verify suite tells the truth: green on the converged lab; each injected fault turns
exactly its own checks red, each with a one-line message naming the service; green again
once the fault is undone."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.load import load_platform
from homelab.render.engine import systemd_argv as render_argv
from homelab.services import Daemon, daemon_named, mcp_tools, mlx, open_webui
from homelab.services.litellm import gateway_host
from homelab.services.mlx import MlxModel
from tests.lab.conftest import LAB_INVENTORY, deploy, ssh

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]


@dataclass(frozen=True)
class Outcome:
    failed: dict[str, str]  # check -> its failure message
    passed: set[str]


def run_verify(tmp: Path) -> Outcome:
    junit = tmp / "verify.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "verify",
            "--inventory",
            str(LAB_INVENTORY),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    failed, passed = {}, set()
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            failed[name] = (problem.get("message") or "").strip()
        elif case.find("skipped") is None:
            passed.add(name)
    return Outcome(failed, passed)


@pytest.fixture(scope="module")
def baseline(lab: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    deploy()
    outcome = run_verify(tmp_path_factory.mktemp("verify"))
    assert not outcome.failed, f"the converged lab is not green: {outcome.failed}"
    assert len(outcome.passed) > 50
    return outcome


def on(host: str, *commands: str) -> Callable[[], None]:
    def run() -> None:
        for command in commands:
            result = ssh(host, command, timeout=300)
            assert result.returncode == 0, f"{host}: {command}: {result.stderr}"

    return run


PLATFORM = load_platform(LAB_INVENTORY)


def only(name: str) -> Daemon:
    """The one enabled daemon named ``name``, on whichever host the data runs it."""
    (found,) = [d for d in PLATFORM.enabled_daemons() if d.name == name]
    return found


def lone_mlx_server() -> tuple[MlxModel, Daemon]:
    """A served MLX model and its server, where no other check goes through that server: the
    model has no replica (one on another host would answer for it), it is not the handle its
    backend family's chat uses, nor the base of an ``opt-*`` handle."""
    served = list(mlx.SERVICE.deployments(PLATFORM))
    replicas = Counter(model.model_id for _host, _i, model in served)
    families: dict[str, str] = {}
    for route in PLATFORM.routes():
        if not route.internal:
            families.setdefault(route.backend.value, route.handle)
    chatted = {*families.values(), *(opt.base for opt in PLATFORM.gateway.opt_handles)}
    for host, _i, model in served:
        if replicas[model.model_id] == 1 and model.model_id not in chatted:
            assert model.port is not None
            return model, daemon_named(PLATFORM, host, mlx.server_name(model.port))
    raise AssertionError(f"the lab serves no MLX model on one server alone: {dict(replicas)}")


SEARXNG = only("searxng")
OPTILLM = only("optillm")
LITELLM = daemon_named(PLATFORM, gateway_host(PLATFORM), "litellm")
OPEN_WEBUI = open_webui.SERVICE.name
#: The hosts whose verify checks Open WebUI, and those whose MCP session calls search.web.
OPEN_WEBUI_HOSTS = [host for host, _ in open_webui.SERVICE.placed(PLATFORM)]
SEARCH_WEB_HOSTS = [
    host
    for host, placed in mcp_tools.SERVICE.placed(PLATFORM)
    if any(tool.name == "web-fetch" for tool in placed.tools)
]
MLX_MODEL, MLX = lone_mlx_server()


def aliases_only_of(handle: str) -> list[str]:
    """The aliases that cannot answer while ``handle``'s one server is dead: all their handles
    are it, and so is every fallback the data gives them."""
    dead = {handle}
    declared = dict(PLATFORM.gateway.router.fallbacks)
    out: list[str] = []
    for alias in PLATFORM.gateway.aliases:
        if set(alias.handles) <= dead and set(declared.get(alias.name, ())) <= dead | set(out):
            out.append(alias.name)
    return out


#: The aliases the dead MLX server takes down with it (each alias's check goes red).
MLX_ALIASES = aliases_only_of(MLX_MODEL.model_id)


def at(daemon: Daemon) -> str:
    return f"{daemon.host}/{daemon.name}"


def from_every_other_host(check: str, daemon: Daemon) -> set[str]:
    """``check``'s ids for ``daemon`` as every other host of the platform tries it."""
    return {
        f"{check}[{at(daemon)}-from-{other}]" for other in PLATFORM.hosts if other != daemon.host
    }


def wait(daemon: Daemon) -> str:
    """Until the daemon answers its health endpoint again."""
    return (
        "curl -fsS -o /dev/null --retry 60 --retry-delay 1 --retry-all-errors "
        f"{shlex.quote(daemon.health_url)}"
    )


DROPIN = f"{OPTILLM.unit_path}.d/fault.conf"
DROP_LAST_OV = (
    f"{LITELLM.venv}/bin/python -c \"import yaml; p='{LITELLM.config}'; "
    "c=yaml.safe_load(open(p)); i=max(i for i,m in enumerate(c['model_list']) "
    "if m['model_name'].startswith('ov-')); c['model_list'].pop(i); "
    "yaml.safe_dump(c, open(p,'w'))\""
)


def rebound_argv(daemon: Daemon) -> str:
    """The daemon's ExecStart from the model, its loopback bind swapped for all addresses."""
    argv = tuple("0.0.0.0" if a == daemon.listener.bind else a for a in daemon.argv)
    assert argv != daemon.argv, f"{daemon.name}: no {daemon.listener.bind} in its arguments"
    return render_argv(argv)


@dataclass(frozen=True)
class Fault:
    name: str
    service: str
    inject: Callable[[], None]
    restore: Callable[[], None]
    expected: frozenset[str]
    #: Checks whose message names another service than the fault's (the one that saw it).
    seen_by: tuple[tuple[str, str], ...] = ()
    #: Checks that may be red or green: Prometheus's probe of the faulted daemon turns red
    #: only once its next probe (the lab's 5 s interval) ran after the fault.
    lagging: frozenset[str] = frozenset()


def probed(daemon: Daemon) -> frozenset[str]:
    """Prometheus's probe of ``daemon``'s health URL, as verify names its check."""
    return frozenset({f"test_prometheus_probe_succeeds[health:{daemon.host},{daemon.name}]"})


FAULTS = [
    Fault(
        "stopped unit",
        SEARXNG.name,
        on(SEARXNG.host, f"systemctl stop {SEARXNG.unit}"),
        on(SEARXNG.host, f"systemctl start {SEARXNG.unit}", wait(SEARXNG)),
        frozenset(
            {
                f"test_active[{at(SEARXNG)}]",
                f"test_listens_on_its_declared_bind[{at(SEARXNG)}]",
                f"test_health_endpoint[{at(SEARXNG)}]",
                "test_search_through_the_gateway",
                # The MCP tool's search.web asks the gateway's search, which asks SearXNG: on
                # every host running the tool.
                *(f"test_search_web_returns_results[{host}]" for host in SEARCH_WEB_HOSTS),
            }
        ),
        seen_by=tuple(
            (f"test_search_web_returns_results[{host}]", "web-fetch") for host in SEARCH_WEB_HOSTS
        ),
        lagging=probed(SEARXNG),
    ),
    Fault(
        "loopback-only service re-bound to all addresses",
        OPTILLM.name,
        on(
            OPTILLM.host,
            f"mkdir -p {Path(DROPIN).parent} && printf '%s\\n' '[Service]' 'ExecStart=' "
            f"{shlex.quote('ExecStart=' + rebound_argv(OPTILLM))} > {DROPIN}",
            "systemctl daemon-reload",
            f"systemctl restart {OPTILLM.unit}",
            wait(OPTILLM),
        ),
        on(
            OPTILLM.host,
            f"rm -f {DROPIN}",
            "systemctl daemon-reload",
            f"systemctl restart {OPTILLM.unit}",
            wait(OPTILLM),
        ),
        # Its unit also fences it to loopback traffic (IPAddressDeny), but the lab's hosts run
        # on a hybrid cgroup tree where systemd's BPF firewall is not available: every other
        # host reaches it, and the checks from each of them see the fault.
        frozenset(
            {
                f"test_listens_on_its_declared_bind[{at(OPTILLM)}]",
                *from_every_other_host("test_loopback_service_refuses_every_other_host", OPTILLM),
            }
        ),
    ),
    Fault(
        "a handle removed from the running gateway config",
        LITELLM.name,
        on(LITELLM.host, DROP_LAST_OV, f"systemctl restart {LITELLM.unit}", wait(LITELLM)),
        lambda: None,  # the redeploy below puts the config back
        frozenset(
            {
                "test_models_list_what_list_aliases_only_says",
                # Every Open WebUI lists the gateway's models.
                *(f"test_open_webui_lists_the_gateway_models[{host}]" for host in OPEN_WEBUI_HOSTS),
            }
        ),
        seen_by=tuple(
            (f"test_open_webui_lists_the_gateway_models[{host}]", OPEN_WEBUI)
            for host in OPEN_WEBUI_HOSTS
        ),
    ),
    Fault(
        "a dead MLX server behind a live gateway",
        MLX.name,
        on(MLX.host, f"systemctl kill -s KILL {MLX.unit} && systemctl stop {MLX.unit}"),
        on(MLX.host, f"systemctl start {MLX.unit}", wait(MLX)),
        frozenset(
            {
                f"test_active[{at(MLX)}]",
                f"test_listens_on_its_declared_bind[{at(MLX)}]",
                f"test_health_endpoint[{at(MLX)}]",
                *from_every_other_host("test_lan_service_answers_every_other_host", MLX),
                f"test_chat_reaches_each_served_handle[{MLX_MODEL.model_id}]",
                *(f"test_each_alias_answers_a_chat[{alias}]" for alias in MLX_ALIASES),
            }
        ),
        lagging=probed(MLX),
    ),
    Fault(
        "a secrets file made world-readable",
        LITELLM.name,
        on(LITELLM.host, f"chmod 0644 {LITELLM.secrets_env}"),
        on(LITELLM.host, f"chmod 0600 {LITELLM.secrets_env}"),
        frozenset({f"test_secrets_env_is_its_services_alone[{at(LITELLM)}]"}),
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_fault_turns_exactly_its_checks_red(
    baseline: Outcome, fault: Fault, tmp_path: Path
) -> None:
    fault.inject()
    try:
        outcome = run_verify(tmp_path)
    finally:
        fault.restore()
        deploy()  # converges whatever the fault changed back to the data
    red = set(outcome.failed)
    assert fault.expected <= red <= fault.expected | fault.lagging, (
        f"expected red: {sorted(fault.expected)} (and perhaps {sorted(fault.lagging)}); "
        f"found red: {sorted(red)}"
    )
    for check, message in outcome.failed.items():
        first = message.splitlines()[0] if message else ""
        service = dict(fault.seen_by).get(check, fault.service)
        # Prometheus's checks speak for Prometheus, naming the daemon in the series' labels.
        named = service in first if check in fault.lagging else f"{service}:" in first
        assert named, f"{check}: the message does not name {service}: {first!r}"
    lagged = red & fault.lagging
    assert outcome.passed == baseline.passed - fault.expected - lagged, "unrelated checks changed"
    assert not run_verify(tmp_path).failed, "not green again after restoring"
