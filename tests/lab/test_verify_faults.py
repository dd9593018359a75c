"""The verify suite tells the truth: green on the converged lab; each injected fault turns
exactly its own checks red, each with a one-line message naming the service; green again
once the fault is undone."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.daemons import daemon_named
from homelab.load import load_platform
from homelab.render.engine import systemd_argv as render_argv
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
        [sys.executable, "-m", "pytest", "verify", "--inventory", str(LAB_INVENTORY),
         "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False,
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


WAIT_OPTILLM = "curl -fsS -o /dev/null --retry 60 --retry-delay 2 --retry-all-errors " \
    "http://127.0.0.1:4020/health"
WAIT_GATEWAY = "curl -fsS -o /dev/null --retry 60 --retry-delay 2 --retry-all-errors " \
    "http://127.0.0.1:4000/health/readiness"
DROPIN = "/etc/systemd/system/optillm.service.d/fault.conf"
ROUTER = "/etc/homelab-llm/litellm/router.yaml"
DROP_LAST_OV = (
    "/opt/homelab-llm/litellm/venv/bin/python -c \"import yaml; p='" + ROUTER + "'; "
    "c=yaml.safe_load(open(p)); i=max(i for i,m in enumerate(c['model_list']) "
    "if m['model_name'].startswith('ov-')); c['model_list'].pop(i); "
    "yaml.safe_dump(c, open(p,'w'))\""
)


def rebound_argv(service: str) -> str:
    """The service's ExecStart from the model, its loopback bind swapped for all addresses."""
    daemon = daemon_named(load_platform(LAB_INVENTORY), "mini", service)
    argv = tuple("0.0.0.0" if a == daemon.listener.bind else a for a in daemon.argv)
    assert argv != daemon.argv, f"{service}: no {daemon.listener.bind} in its arguments"
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


FAULTS = [
    Fault(
        "stopped unit", "searxng",
        on("mini", "systemctl stop searxng"),
        on("mini", "systemctl start searxng",
           "curl -fsS -o /dev/null --retry 30 --retry-delay 1 --retry-all-errors "
           "http://127.0.0.1:8888/healthz"),
        frozenset({
            "test_active[mini/searxng]",
            "test_listens_on_its_declared_bind[mini/searxng]",
            "test_health_endpoint[mini/searxng]",
            "test_search_through_the_gateway",
        }),
    ),
    Fault(
        "loopback-only service re-bound to all addresses", "optillm",
        on("mini",
           f"mkdir -p {Path(DROPIN).parent} && printf '%s\\n' '[Service]' 'ExecStart=' "
           f"{shlex.quote('ExecStart=' + rebound_argv('optillm'))} > {DROPIN}",
           "systemctl daemon-reload", "systemctl restart optillm", WAIT_OPTILLM),
        on("mini", f"rm -f {DROPIN}", "systemctl daemon-reload", "systemctl restart optillm",
           WAIT_OPTILLM),
        # Its unit also fences it to loopback traffic (IPAddressDeny), but the lab's hosts run
        # on a hybrid cgroup tree where systemd's BPF firewall is not available: the other
        # host reaches it, and both checks see the fault.
        frozenset({
            "test_listens_on_its_declared_bind[mini/optillm]",
            "test_loopback_service_refuses_the_other_host[mini/optillm]",
        }),
    ),
    Fault(
        "a handle removed from the running gateway config", "litellm",
        on("mini", DROP_LAST_OV, "systemctl restart litellm", WAIT_GATEWAY),
        lambda: None,  # the redeploy below puts the config back
        frozenset({
            "test_models_are_exactly_the_declared_handles",
            "test_open_webui_lists_the_gateway_models",
        }),
        seen_by=(("test_open_webui_lists_the_gateway_models", "open-webui"),),
    ),
    Fault(
        "a dead MLX server behind a live gateway", "mlx-8101",
        on("studio", "systemctl kill -s KILL mlx-8101 && systemctl stop mlx-8101"),
        on("studio", "systemctl start mlx-8101",
           "curl -fsS -o /dev/null --retry 30 --retry-delay 1 --retry-all-errors "
           "http://127.0.0.1:8101/health"),
        frozenset({
            "test_active[studio/mlx-8101]",
            "test_listens_on_its_declared_bind[studio/mlx-8101]",
            "test_health_endpoint[studio/mlx-8101]",
            "test_lan_service_answers_the_other_host[studio/mlx-8101]",
            "test_chat_reaches_each_mlx_server[mlx-tiny-llama-b]",
        }),
    ),
    Fault(
        "a secrets file made world-readable", "litellm",
        on("mini", "chmod 0644 /etc/homelab-llm/secrets/litellm.env"),
        on("mini", "chmod 0600 /etc/homelab-llm/secrets/litellm.env"),
        frozenset({"test_secrets_env_is_its_services_alone[mini/litellm]"}),
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
    assert set(outcome.failed) == fault.expected, (
        f"expected red: {sorted(fault.expected)}; found red: {sorted(outcome.failed)}"
    )
    for check, message in outcome.failed.items():
        first = message.splitlines()[0] if message else ""
        service = dict(fault.seen_by).get(check, fault.service)
        assert f"{service}:" in first, f"{check}: the message does not name {service}: {first!r}"
    assert outcome.passed == baseline.passed - fault.expected, "unrelated checks changed"
    assert not run_verify(tmp_path).failed, "not green again after restoring"
