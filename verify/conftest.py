"""The verify suite: what an operator runs after every deploy.

``pytest verify`` checks the hosts of ``inventory.py``; ``pytest verify --inventory
lab/inventory.py`` checks the lab. Hosts come from the pyinfra inventory (``homelab.bridge``),
every expectation from the typed model. Each check is one test, parametrised per service, per
port or per handle; a failure says in one line which service, what was expected, what was
found. A one-line-per-check summary ends the run; JUnit XML is written only where
``--junitxml`` asks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from homelab import PROJECT_ROOT
from homelab.bridge import testinfra_hosts
from homelab.load import load_platform
from homelab.model import ROLES, Platform, Role, routes
from homelab.services import enabled_daemons
from homelab.services.litellm import gateway_url
from verify import probes


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--inventory",
        default=str(PROJECT_ROOT / "inventory.py"),
        help="pyinfra inventory of the hosts to verify (default: the real homelab)",
    )


#: testinfra's options that pick hosts or how to reach them: the inventory decides both here.
TESTINFRA_TARGETING = {
    "hosts": "--hosts",
    "connection": "--connection",
    "ssh_config": "--ssh-config",
    "ssh_extra_args": "--ssh-extra-args",
    "ssh_identity_file": "--ssh-identity-file",
    "sudo": "--sudo",
    "sudo_user": "--sudo-user",
    "ansible_inventory": "--ansible-inventory",
    "force_ansible": "--force-ansible",
}


def pytest_configure(config: pytest.Config) -> None:
    """Refuse testinfra's host options rather than ignore them: the inventory names the hosts."""
    given = [
        flag for dest, flag in TESTINFRA_TARGETING.items() if getattr(config.option, dest, None)
    ]
    if given:
        raise pytest.UsageError(
            f"verify takes its hosts and how to reach them from the pyinfra inventory, not from "
            f"{', '.join(given)}: use --inventory FILE (e.g. --inventory lab/inventory.py)"
        )


def _platform(config: pytest.Config) -> Platform:
    cached = getattr(config, "_homelab_platform", None)
    if cached is None:
        cached = load_platform(Path(config.getoption("--inventory")))
        config._homelab_platform = cached  # type: ignore[attr-defined]
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise checks from the model: per daemon, per port, per handle, per family."""
    platform = _platform(metafunc.config)
    every = enabled_daemons(platform)

    def param(name: str, values: list[Any], ids: list[str]) -> None:
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=ids)

    param("daemon", every, [f"{d.role}/{d.name}" for d in every])
    lan = [d for d in every if d.listener.lan]
    param("lan_daemon", lan, [f"{d.role}/{d.name}" for d in lan])
    local = [d for d in every if not d.listener.lan]
    param("loopback_daemon", local, [f"{d.role}/{d.name}" for d in local])
    secret = [d for d in every if d.secrets_env]
    param("secret_daemon", secret, [f"{d.role}/{d.name}" for d in secret])
    client = [r for r in routes(platform) if not r.internal]
    families: dict[str, str] = {}
    for r in client:
        families.setdefault(r.backend.value, r.handle)
    param("family_handle", list(families.values()), list(families))
    # Each served MLX handle with the daemon behind it, so a failure names that server.
    by_port = {d.listener.port: d.name for d in every if d.role == "studio"}
    mlx = [(m.model_id, by_port[m.port]) for m in platform.studio.mlx.served if m.port]
    param("mlx_handle", mlx, [handle for handle, _ in mlx])


@pytest.fixture(scope="session")
def platform(pytestconfig: pytest.Config) -> Platform:
    return _platform(pytestconfig)


@pytest.fixture(scope="session")
def hosts(pytestconfig: pytest.Config) -> dict[Role, Any]:
    """testinfra hosts by role, from the same inventory pyinfra deployed with."""
    return testinfra_hosts(Path(pytestconfig.getoption("--inventory")))


@pytest.fixture
def host(hosts: dict[Role, Any], request: pytest.FixtureRequest) -> Any:
    """The testinfra host of the daemon a check is about."""
    for name in ("daemon", "lan_daemon", "loopback_daemon", "secret_daemon"):
        if name in request.fixturenames:
            return hosts[request.getfixturevalue(name).role]
    return hosts["mini"]


@pytest.fixture(scope="session", autouse=True)
def prefetched(hosts: dict[Role, Any], platform: Platform) -> None:
    """Each host asked once for what the checks will ask it: units, health, the other host."""
    every = enabled_daemons(platform)
    for role in ROLES:
        mine = [d for d in every if d.role == role]
        theirs = [d for d in every if d.role != role]
        urls = [(d.health_url, probes.HEALTH_TIMEOUT) for d in mine]
        if role == "mini":
            urls.append((gateway_url(platform, "/health/readiness"), probes.HEALTH_TIMEOUT))
        urls += [
            (
                probes.other_host_url(platform, d),
                probes.HEALTH_TIMEOUT if d.listener.lan else probes.REFUSED_TIMEOUT,
            )
            for d in theirs
        ]
        units = [d.unit for d in mine] if platform.host(role).os != "darwin" else []
        probes.prefetch(hosts[role], units, urls)


@pytest.fixture(scope="session")
def listening(hosts: dict[Role, Any], platform: Platform) -> dict[Role, set[tuple[str, int]]]:
    """(address, port) of every listening TCP socket, read once per host."""
    return {role: probes.listening(hosts[role], platform.host(role).os) for role in ROLES}


@pytest.fixture(scope="session")
def gateway_key(hosts: dict[Role, Any], platform: Platform) -> str:
    """The gateway key, read on the Mini (where it was made); never printed."""
    ref = platform.gateway.proxy_key
    key: str = hosts["mini"].file(platform.mini.layout.secret_file(ref.env)).content_string
    return key.strip()


@pytest.fixture(scope="session")
def gateway(platform: Platform, gateway_key: str) -> httpx.Client:
    """A client of the gateway as LAN clients reach it."""
    port = platform.mini.litellm.listener.port
    return httpx.Client(
        base_url=f"http://{platform.addresses['mini']}:{port}",
        headers={"Authorization": f"Bearer {gateway_key}"},
        timeout=120,
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per check: outcome, check, and on failure the first line of why."""
    lines = []
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup") or not hasattr(
                report, "nodeid"
            ):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            why = "".join(f"  {k}={v}" for k, v in getattr(report, "user_properties", []))
            if outcome in ("failed", "error"):
                text = (
                    str(report.longrepr.reprcrash.message)
                    if hasattr(report.longrepr, "reprcrash")
                    else str(report.longrepr)
                )
                why = "  " + text.strip().splitlines()[0][:200]
            lines.append(f"{outcome.upper():7} {report.nodeid.split('::', 1)[-1]}{why}")
    terminalreporter.write_sep("-", "verify: one line per check")
    for line in sorted(lines, key=lambda s: (not s.startswith(("FAILED", "ERROR")), s)):
        terminalreporter.write_line(line)
