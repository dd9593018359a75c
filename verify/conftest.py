"""The verify suite: what an operator runs after every deploy.

``pytest verify`` checks the hosts of ``inventory.py``; ``pytest verify --inventory
lab/inventory.py`` checks the lab. Hosts come from the pyinfra inventory (``homelab.bridge``),
every expectation from the typed model: no check names a host, each is parametrised over the
hosts, daemons, ports and handles the model gives (a port closed to other hosts is tried from
every one of them); a failure says in one line which service, what was expected, what was
found. A one-line-per-check summary ends the run; JUnit XML is written only where
``--junitxml`` asks.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from homelab import PROJECT_ROOT
from homelab.bridge import testinfra_hosts
from homelab.load import load_platform
from homelab.model import Platform
from homelab.services import litellm, mcp_tools, monitoring, open_webui
from verify import chat, mcp_session, params, probes

#: The scopes ``Metafunc.parametrize`` takes.
Scope = Literal["session", "package", "module", "class", "function"]


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


#: Parameters naming a host (by the inventory's name), each placed on the hosts the model says.
HOST_PARAMETERS = ("host_name", "mcp_host", "open_webui_host")
#: Parameters holding a daemon, whose host is the one a check is about.
DAEMON_PARAMETERS = ("daemon", "lan_daemon", "loopback_daemon", "secret_daemon")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise checks from the model: per host, per daemon (and per other host that tries
    it), per handle, per family, per MCP tool."""
    platform = _platform(metafunc.config)
    every = platform.enabled_daemons()

    def param(name: str, values: Sequence[Any], ids: list[str], scope: Scope = "function") -> None:
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=ids, scope=scope)

    param("host_name", list(platform.hosts), list(platform.hosts))
    # Module scope: the MCP session (one per host) is a module fixture that depends on it.
    mcp_hosts = [host for host, _ in mcp_tools.SERVICE.placed(platform)]
    param("mcp_host", mcp_hosts, mcp_hosts, scope="module")
    open_webui_hosts = [host for host, _ in open_webui.SERVICE.placed(platform)]
    param("open_webui_host", open_webui_hosts, open_webui_hosts)
    tools = params.tools_placed(platform)
    param("mcp_tool", tools, [t.id for t in tools])

    param("daemon", every, [params.daemon_id(d) for d in every])
    watched = monitoring.MONITORING.watched(platform)
    param("watched", watched, [w.id for w in watched])
    probes = [w for w in watched if w.probe]
    param("probed", probes, [w.id for w in probes])
    lan = [d for d in every if d.listener.lan]
    param("lan_daemon", lan, [params.daemon_id(d) for d in lan])
    local = [d for d in every if not d.listener.lan]
    param("loopback_daemon", local, [params.daemon_id(d) for d in local])
    secret = [d for d in every if d.secrets_env]
    param("secret_daemon", secret, [params.daemon_id(d) for d in secret])
    lan_reaches = [r for r in params.reaches(platform, lan) if r.allowed]
    param("lan_reach", lan_reaches, [r.id for r in lan_reaches])
    fenced_reaches = [r for r in params.reaches(platform, lan) if not r.allowed]
    param("fenced_reach", fenced_reaches, [r.id for r in fenced_reaches])
    loopback_reaches = params.reaches(platform, local)
    param("loopback_reach", loopback_reaches, [r.id for r in loopback_reaches])

    families = params.family_handles(platform)
    param("family_handle", list(families.values()), list(families))
    served = params.served_handles(platform)
    param("served_handle", served, [m.id for m in served])
    aliases = [a.name for a in platform.gateway.aliases]
    param("alias_name", aliases, aliases)
    streaming = params.streaming_aliases(platform)
    param("streaming_alias", streaming, streaming)
    replicas = params.replica_deployments(platform)
    param("replica", replicas, [r.id for r in replicas])
    warmups = [w for name in platform.hosts for w in platform.warmups(name)]
    param("warmup", warmups, [w.id for w in warmups])


@pytest.fixture(scope="session")
def platform(pytestconfig: pytest.Config) -> Platform:
    return _platform(pytestconfig)


@pytest.fixture(scope="session")
def hosts(pytestconfig: pytest.Config) -> dict[str, Any]:
    """testinfra hosts by name, from the same inventory pyinfra deployed with."""
    return testinfra_hosts(Path(pytestconfig.getoption("--inventory")))


@pytest.fixture
def host(hosts: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    """The testinfra host a check is about: its daemon's, or the host it is parametrised by."""
    for name in DAEMON_PARAMETERS:
        if name in request.fixturenames:
            return hosts[request.getfixturevalue(name).host]
    for name in HOST_PARAMETERS:
        if name in request.fixturenames:
            return hosts[request.getfixturevalue(name)]
    raise pytest.UsageError(
        f"{request.node.name}: the host fixture needs a daemon or a host to be about "
        f"(one of {', '.join((*DAEMON_PARAMETERS, *HOST_PARAMETERS))})"
    )


@pytest.fixture(scope="session")
def gateway_host_name(platform: Platform) -> str:
    """The host the data places the gateway on."""
    return litellm.gateway_host(platform)


@pytest.fixture(scope="session", autouse=True)
def mcp_sessions(
    hosts: dict[str, Any], platform: Platform, listening: dict[str, set[tuple[str, int]]]
) -> Iterator[dict[str, Future[mcp_session.Session]]]:
    """The MCP sessions, started before the first check and run while the others run: after
    the listening sockets are read (a session serves a page on a port of its own)."""
    placed = [host for host, _ in mcp_tools.SERVICE.placed(platform)]
    with ThreadPoolExecutor(max_workers=max(1, len(placed))) as pool:
        yield mcp_session.start_sessions(pool, hosts, platform, placed)


@pytest.fixture(scope="session", autouse=True)
def prefetched(hosts: dict[str, Any], platform: Platform, gateway_host_name: str) -> None:
    """Each host asked once for what the checks will ask it: units, health, the other hosts;
    the hosts side by side (each is a round trip of its own)."""
    every = platform.enabled_daemons()
    readiness = litellm.gateway_url(platform, probes.GATEWAY_READINESS)

    def ask(name: str) -> None:
        mine = [d for d in every if d.host == name]
        theirs = [d for d in every if d.host != name]
        urls = [(d.health_url, probes.HEALTH_TIMEOUT) for d in mine]
        if name == gateway_host_name:
            urls.append((readiness, probes.HEALTH_TIMEOUT))
        urls += [
            (
                probes.lan_url(platform, d),
                probes.HEALTH_TIMEOUT if d.listener.lan else probes.REFUSED_TIMEOUT,
            )
            for d in theirs
        ]
        probes.prefetch(hosts[name], probes.batched_units(mine), urls)

    with ThreadPoolExecutor(max_workers=max(1, len(platform.hosts))) as pool:
        # list(): a host whose question failed raises here, in the check that set this up.
        list(pool.map(ask, platform.hosts))


@pytest.fixture(scope="session")
def listening(hosts: dict[str, Any], platform: Platform) -> dict[str, set[tuple[str, int]]]:
    """(address, port) of every listening TCP socket, read once per host."""
    return {name: probes.listening(hosts[name], h.os) for name, h in platform.hosts.items()}


@pytest.fixture(scope="session")
def gateway_key(hosts: dict[str, Any], platform: Platform, gateway_host_name: str) -> str:
    """The gateway key, read on the gateway's host (where it was made); never printed."""
    ref = platform.gateway.proxy_key
    layout = platform.host(gateway_host_name).layout
    key: str = hosts[gateway_host_name].file(layout.secret_file(ref.env)).content_string
    return key.strip()


@pytest.fixture(scope="session")
def gateway(platform: Platform, gateway_host_name: str, gateway_key: str) -> httpx.Client:
    """A client of the gateway as LAN clients reach it: at its host's address."""
    address = platform.addresses[gateway_host_name]
    return httpx.Client(
        base_url=f"http://{address}:{litellm.gateway(platform).listener.port}",
        headers={"Authorization": f"Bearer {gateway_key}"},
        timeout=120,
    )


#: Arguments whose value is work started with the session and run in the background (the
#: chats, the MCP sessions): the checks that take them run last, when it has most likely ended.
BACKGROUND_ARGUMENTS = frozenset({"chats", "session"})
#: Where the chats to send are kept between collection and the session's start.
CHATTED = pytest.StashKey[list[str]]()


def arguments(item: pytest.Item) -> set[str]:
    """The arguments a check itself takes (not the fixtures those pull in)."""
    function = getattr(item, "function", None)
    return set(inspect.signature(function).parameters) if function is not None else set()


def chatted_by(item: pytest.Item) -> str | None:
    """The name a chat check chats with: its handle, served handle or alias parameter."""
    spec = getattr(item, "callspec", None)
    if spec is None or "chats" not in arguments(item):
        return None
    for key in ("family_handle", "alias_name", "served_handle"):
        if key in spec.params:
            value = spec.params[key]
            return value.handle if isinstance(value, params.ServedHandle) else str(value)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: bool(BACKGROUND_ARGUMENTS & arguments(item)))  # stable
    names = (chatted_by(item) for item in items)
    config.stash[CHATTED] = list(dict.fromkeys(n for n in names if n is not None))


#: How many chats go to the gateway at once: the backends behind it serve one at a time each.
CHATS_AT_ONCE = 4


@pytest.fixture(scope="session", autouse=True)
def chats(request: pytest.FixtureRequest) -> Iterator[chat.Chats]:
    """The chats the selected checks ask of the gateway, sent at the session's start and
    answered while the other checks run; each check reads its own answer (a chat is the
    slowest thing verify does, up to half a second each on a tiny model)."""
    names = request.config.stash.get(CHATTED, [])
    if not names:
        yield {}
        return
    try:
        gateway: httpx.Client = request.getfixturevalue("gateway")
    except Exception:  # the checks that need the gateway say why, each in its setup
        yield {}
        return
    pool = ThreadPoolExecutor(max_workers=CHATS_AT_ONCE)
    try:
        yield {name: pool.submit(chat.ask, gateway, name) for name in names}
    finally:
        pool.shutdown(cancel_futures=True)  # an interrupted run sends no more of them


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
