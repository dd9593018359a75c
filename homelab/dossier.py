"""PLATFORM_DOSSIER.md and the topology picture, generated from the model so they cannot drift.

The topology is derived once (:func:`topology`: hosts, daemons with their binds and ports, the
gateway's routes to the daemons behind it, OptiLLM's loop back to the gateway) and drawn twice:
as a Mermaid flowchart inside the dossier (forges render it) and as an SVG laid out by
Graphviz's ``dot``, so no label is placed by hand.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import graphviz

from homelab import PROJECT_ROOT
from homelab.model import Platform, Route
from homelab.model.base import LOOPBACK
from homelab.model.naming import ROUTER_PREFIX
from homelab.render import daemon_files
from homelab.render.engine import render
from homelab.services import Daemon, daemons
from homelab.services.litellm import SERVICE as LITELLM
from homelab.services.litellm import gateway_host, search_url
from homelab.services.open_webui import SERVICE as OPEN_WEBUI
from homelab.services.optillm import SERVICE as OPTILLM
from homelab.services.optillm import proxy_url
from homelab.services.searxng import SERVICE as SEARXNG


@dataclass(frozen=True)
class Row:
    """One service as the dossier shows it."""

    role: str
    daemon: Daemon
    address: str
    config: tuple[str, ...]

    @property
    def base_url(self) -> str:
        host = self.address if self.daemon.listener.lan else self.daemon.listener.bind
        return f"http://{host}:{self.daemon.listener.port}"


def rows(platform: Platform) -> list[Row]:
    out = []
    for role in platform.hosts:
        for d in daemons(platform, role):
            files = tuple(f.path for f in daemon_files(platform, d)[1:])
            if d.secrets_env:
                files += (f"{d.secrets_env} (secrets, made on the host)",)
            out.append(Row(role=role, daemon=d, address=platform.addresses[role], config=files))
    return out


@dataclass(frozen=True)
class Secret:
    """One secret in a host's store, and who reads it."""

    role: str
    name: str
    readers: tuple[str, ...]


def secrets(platform: Platform) -> list[Secret]:
    """Each host's secrets, from what reads them: the enabled daemons' references (what the
    host's store generates, see ``deploys/host.py``) and the MCP tools' key files."""
    from homelab.services.mcp_tools import secrets as tool_secrets
    from homelab.services.mcp_tools import tools_on

    out = []
    for role in platform.hosts:
        readers: dict[str, list[str]] = {}
        for d in daemons(platform, role):
            for ref in d.secrets.values() if d.enabled else ():
                readers.setdefault(ref.env, []).append(d.name)
        for tool in tools_on(platform, role).tools:
            for ref in tool_secrets(platform).values():
                readers.setdefault(ref.env, []).append(f"MCP tool {tool.name}")
        out += [
            Secret(role, name, tuple(dict.fromkeys(who))) for name, who in sorted(readers.items())
        ]
    return out


# --- topology ---------------------------------------------------------------------------------

#: The node of the people and programs on the LAN.
CLIENTS = "clients"

#: Colours of the picture and the flowchart: fill, stroke.
LAN_COLOURS = ("#fde9d9", "#c0504d")
LOOPBACK_COLOURS = ("#e3f1e3", "#4f8f4f")


class GraphvizMissing(FileNotFoundError):
    """Graphviz's ``dot`` is not installed; nothing was written."""


@dataclass(frozen=True)
class Node:
    """One daemon in the picture."""

    key: str
    role: str
    daemon: Daemon

    @property
    def name(self) -> str:
        return self.daemon.name

    @property
    def where(self) -> str:
        """Its bind and port, its exposure, and whether it runs."""
        listener = self.daemon.listener
        text = f"{listener.bind}:{listener.port} {listener.exposure.value}"
        return text if self.daemon.enabled else f"{text} (off)"


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    label: str


@dataclass(frozen=True)
class Topology:
    """What the picture shows: per host its daemons, and the arrows between them."""

    hosts: tuple[tuple[str, str, tuple[Node, ...]], ...]
    edges: tuple[Edge, ...]

    def nodes(self) -> Iterator[Node]:
        for _, _, nodes in self.hosts:
            yield from nodes


def _key(role: str, daemon: Daemon) -> str:
    """A node id both Graphviz and Mermaid accept as it is."""
    return f"{role}_{daemon.name}".replace("-", "_").replace(".", "_")


def _family(route: Route) -> str:
    """``mlx-*``, ``router-mlx-*``: the handles of one backend, as one name."""
    return f"{ROUTER_PREFIX if route.internal else ''}{route.backend.value}-*"


def _label(routes_on_edge: list[Route]) -> str:
    """One handle by name; several as their count and families."""
    if len(routes_on_edge) == 1:
        return routes_on_edge[0].handle
    families = sorted({_family(r) for r in routes_on_edge})
    return f"{len(routes_on_edge)} routes: {', '.join(families)}"


def topology(platform: Platform) -> Topology:
    """Hosts, daemons and routes of ``platform``, every name and port read from the model."""
    nodes: dict[tuple[str, int], Node] = {}
    hosts = []
    for role in platform.hosts:
        mine = []
        for d in daemons(platform, role):
            node = Node(key=_key(role, d), role=role, daemon=d)
            nodes[(role, d.listener.port)] = node
            mine.append(node)
        hosts.append((role, platform.addresses[role], tuple(mine)))

    home = gateway_host(platform)
    by_name = {(n.role, n.daemon.name): n for n in nodes.values()}
    gateway = by_name[(home, LITELLM.name)]
    webuis = [n for n in nodes.values() if n.daemon.name == OPEN_WEBUI.name]
    optillm = by_name.get((home, OPTILLM.name))
    search = by_name.get((home, SEARXNG.name))
    loopback_names = {LOOPBACK, "localhost"}

    def behind(route: Route) -> Node:
        """The daemon a route's api_base reaches: loopback is the gateway's own host."""
        parts = urlsplit(route.api_base)
        host, port = parts.hostname or "", parts.port
        role = gateway.role if host in loopback_names else None
        role = role or next((r for r in platform.hosts if platform.addresses[r] == host), None)
        node = nodes.get((role, port)) if role and port else None
        if node is None:
            raise ValueError(f"route {route.handle}: no daemon serves {route.api_base}")
        return node

    gateway_port = gateway.daemon.listener.port
    edges: list[Edge] = [
        *(Edge(CLIENTS, w.key, f"browser, :{w.daemon.listener.port}") for w in webuis),
        Edge(CLIENTS, gateway.key, f"OpenAI API, :{gateway_port}"),
        *(Edge(w.key, gateway.key, "chat") for w in webuis),
    ]
    by_target: dict[str, list[Route]] = {}
    internal: list[Route] = []
    for route in platform.routes():
        by_target.setdefault(behind(route).key, []).append(route)
        if route.internal:
            internal.append(route)
    if internal and optillm is not None:  # OptiLLM calls back with the internal names
        families = ", ".join(sorted({_family(r) for r in internal}))
        edges.append(Edge(optillm.key, gateway.key, f"calls back: {families}"))
    for target, on_edge in by_target.items():
        edges.append(Edge(gateway.key, target, _label(on_edge)))
    if search is not None:
        edges.append(Edge(gateway.key, search.key, platform.gateway.search_tool))
    return Topology(hosts=tuple(hosts), edges=tuple(edges))


def _colours(daemon: Daemon) -> tuple[str, str]:
    return LAN_COLOURS if daemon.listener.lan else LOOPBACK_COLOURS


def _two_lines(title: str, detail: str) -> str:
    """A node's label: its name in bold over its detail, one cell each so they keep apart."""
    cell = '<TR><TD CELLPADDING="1">{}</TD></TR>'
    rows = cell.format(f"<B>{html.escape(title)}</B>") + cell.format(html.escape(detail))
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0">{rows}</TABLE>>'


def topology_graph(platform: Platform) -> graphviz.Digraph:
    """The topology as Graphviz source: clusters per host, ``dot`` places everything."""
    top = topology(platform)
    g = graphviz.Digraph("topology", comment="homelab-llm topology, generated from the model")
    g.attr(
        rankdir="LR",
        fontname="DejaVu Sans",
        fontsize="14",
        nodesep="0.3",
        ranksep="0.9",
        bgcolor="white",
        tooltip="homelab-llm topology (generated from the platform model)",
    )
    g.attr("node", fontname="DejaVu Sans", fontsize="12", shape="box", style="rounded,filled")
    g.attr("edge", fontname="DejaVu Sans", fontsize="10", color="#444444", fontcolor="#333333")
    g.node(CLIENTS, "LAN clients", id=CLIENTS, shape="oval", fillcolor="#eeeeff", color="#444466")
    for role, address, nodes in top.hosts:
        with g.subgraph(name=f"cluster_{role}") as host:
            host.attr(
                label=f"{role} ({address})",
                id=f"host-{role}",
                style="rounded,filled",
                fillcolor="#f7f7f7",
                color="#333333",
                fontsize="14",
                labeljust="l",
            )
            for node in nodes:
                fill, stroke = _colours(node.daemon)
                style = "rounded,filled" if node.daemon.enabled else "rounded,filled,dashed"
                host.node(
                    node.key,
                    _two_lines(node.name, node.where),
                    id=f"svc-{node.name}",
                    **{"class": node.daemon.listener.exposure.value},
                    fillcolor=fill,
                    color=stroke,
                    penwidth="2" if node.daemon.listener.lan else "1",
                    style=style,
                    fontcolor="black" if node.daemon.enabled else "#555555",
                )
    for i, edge in enumerate(top.edges):
        g.edge(edge.src, edge.dst, label=edge.label, id=f"route{i}", **{"class": "route"})
    with g.subgraph(name="cluster_legend") as legend:
        legend.attr(label="", style="invis")
        rows = "".join(
            f'<TR><TD BGCOLOR="{fill}" COLOR="{stroke}" BORDER="2" WIDTH="14"></TD>'
            f'<TD ALIGN="LEFT">{text}</TD></TR>'
            for fill, stroke, text in (
                (*LAN_COLOURS, "LAN-exposed"),
                (*LOOPBACK_COLOURS, "loopback only"),
                ("#ffffff", "#999999", "dashed: off (rendered, not started)"),
            )
        )
        legend.node(
            "legend",
            f'<<TABLE BORDER="0" CELLSPACING="4">{rows}</TABLE>>',
            id="legend",
            shape="plain",
            style="",
            fontsize="11",
        )
    return g


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(platform: Platform) -> str:
    """The topology as a Mermaid flowchart (the text inside a ```mermaid block)."""
    top = topology(platform)
    lines = ["flowchart LR", f'  {CLIENTS}(["LAN clients"])']
    for role, address, nodes in top.hosts:
        lines.append(f'  subgraph {role}["{role} ({address})"]')
        for node in nodes:
            lines.append(f'    {node.key}["{_mermaid_text(f"{node.name}<br/>{node.where}")}"]')
        lines.append("  end")
    for edge in top.edges:
        lines.append(f'  {edge.src} -->|"{_mermaid_text(edge.label)}"| {edge.dst}')
    lines.append(f"  classDef lan fill:{LAN_COLOURS[0]},stroke:{LAN_COLOURS[1]},stroke-width:2px")
    lines.append(f"  classDef loopback fill:{LOOPBACK_COLOURS[0]},stroke:{LOOPBACK_COLOURS[1]}")
    lines.append("  classDef off stroke-dasharray:4 3,opacity:0.6")
    for exposure in ("lan", "loopback"):
        keys = [n.key for n in top.nodes() if n.daemon.listener.exposure.value == exposure]
        if keys:
            lines.append(f"  class {','.join(keys)} {exposure}")
    off = [n.key for n in top.nodes() if not n.daemon.enabled]
    if off:
        lines.append(f"  class {','.join(off)} off")
    return "\n".join(lines)


def topology_svg(platform: Platform) -> str:
    """The picture, laid out by ``dot``; GraphvizMissing names what to install."""
    try:
        svg: str = topology_graph(platform).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise GraphvizMissing(
            "the topology picture needs Graphviz's dot, which is not installed "
            "(apt-get install graphviz); nothing was written"
        ) from None
    return svg


@dataclass(frozen=True)
class Difference:
    """Where the platform runs a legacy unit's service differently, on purpose, and why."""

    role: str
    legacy: str
    ours: str
    what: str
    why: str


#: Why each kind of difference from the hand-built setup is there (said once).
WHY_OWN_USER = (
    "each service runs as its own system user under a hardening baseline (ProtectHome, "
    "ProtectSystem=strict): no service reads another's secrets or a login user's home"
)
WHY_UNIT_NAME = "units are named after the service they run, one name everywhere"
WHY_ONE_JOB_PER_PORT = (
    "one launchd job per MLX port: a crash or a change of one model restarts that one alone"
)
WHY_DATA_DIR = (
    "the data lives in the service's state directory, outside any home (ProtectHome=yes), "
    "and is copied before every change that touches the service"
)


@dataclass(frozen=True)
class AliasRow:
    name: str
    #: (handle, its weight or None), in the alias's order.
    handles: tuple[tuple[str, int | None], ...]
    hosts: tuple[str, ...]
    fallbacks: tuple[str, ...]
    through_optillm: bool = False


def alias_rows(platform: Platform) -> list[AliasRow]:
    """Each alias, its handles and the hosts whose servers answer them."""
    from homelab.services.litellm import fallbacks

    # The hosts in the rotation (a host out for maintenance has no route), by handle; a
    # handle OptiLLM answers by its direct routes' hosts.
    host_of: dict[str, list[str]] = {}
    for r in platform.routes():
        if r.host is not None and r.alias_of is None:
            names = host_of.setdefault(r.handle.removeprefix(ROUTER_PREFIX), [])
            if r.host not in names:
                names.append(r.host)
    for h in platform.handles():
        host_of.setdefault(h.handle, [h.host])
    falls = dict(fallbacks(platform))
    rows = []
    for a in platform.gateway.aliases:
        weights: tuple[int | None, ...] = a.weights or (None,) * len(a.handles)
        hosts = tuple(dict.fromkeys(x for h in a.handles for x in host_of.get(h, [])))
        rows.append(
            AliasRow(
                a.name,
                tuple(zip(a.handles, weights, strict=True)),
                hosts,
                falls.get(a.name, ()),
                a.through_optillm,
            )
        )
    return rows


def differences(platform: Platform) -> list[Difference]:
    """What the platform does differently from the units it takes over, derived from the data."""
    from homelab.services import daemon_named

    out: list[Difference] = []
    for role in platform.hosts:
        host = platform.host(role)
        takeover = host.takeover
        for unit in takeover.units:
            ours = [daemon_named(platform, role, n) for n in unit.replaced_by]
            names = ", ".join(d.unit for d in ours)
            if len(ours) > 1:
                out.append(
                    Difference(role, unit.unit, names, "one unit per port", WHY_ONE_JOB_PER_PORT)
                )
            elif not unit.same_name:
                out.append(Difference(role, unit.unit, names, "unit name", WHY_UNIT_NAME))
            users = sorted({d.user for d in ours})
            if unit.user is not None and users != [unit.user]:
                what = f"runs as {', '.join(users)}, not {unit.user}"
                out.append(Difference(role, unit.unit, names, what, WHY_OWN_USER))
        for job in takeover.launchd_jobs:
            ours = [daemon_named(platform, role, n) for n in job.replaced_by]
            labels = ", ".join(d.unit for d in ours)
            out.append(
                Difference(role, job.label, labels, "one job per port", WHY_ONE_JOB_PER_PORT)
            )
        if takeover.open_webui_data:
            new = daemon_named(platform, role, "open-webui").state_dir
            what = f"data in {new}, imported once from {takeover.open_webui_data}"
            out.append(Difference(role, takeover.open_webui_data, new, what, WHY_DATA_DIR))
    return out


#: The latest figures of ``bench/perf.py``, measured on the lab and committed with the code.
FIGURES = PROJECT_ROOT / "docs" / "performance.json"


@dataclass(frozen=True)
class DetourCost:
    """What the OptiLLM detour costs an mlx-* request, as last measured on the lab."""

    measured: str
    machine: str
    added_median_ms: float
    on_median_ms: float
    off_median_ms: float
    rps_ratio_c16: float


def detour_cost(figures_file: Path = FIGURES) -> DetourCost | None:
    """The measured cost of the OptiLLM detour, or None when no measurement is committed."""
    try:
        data = json.loads(figures_file.read_text())
        values = {f["name"]: float(f["value"]) for f in data["figures"]}
        return DetourCost(
            measured=str(data["measured"]),
            machine=str(data["machine"]),
            added_median_ms=values["optillm_detour_c1_added_median"],
            on_median_ms=values["optillm_c1_on_median"],
            off_median_ms=values["optillm_c1_off_median"],
            rps_ratio_c16=values["optillm_detour_c16_rps_ratio"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_dossier(platform: Platform, out: Path) -> list[Path]:
    """Write the dossier and its picture into ``out``; nothing at all when ``dot`` is missing."""
    picture = topology_svg(platform)
    md = out / "PLATFORM_DOSSIER.md"
    svg = out / "topology.svg"
    text = render(
        "dossier/PLATFORM_DOSSIER.md.j2",
        platform=platform,
        rows=rows(platform),
        routes=platform.routes(),
        aliases=alias_rows(platform),
        optillm_url=proxy_url(platform),
        search_url=search_url(platform, seen_from=""),
        searxng_base=SEARXNG.gateway_environment(platform).get("SEARXNG_API_BASE"),
        svg_name=svg.name,
        mermaid=mermaid(platform),
        detour=detour_cost(),
        differences=differences(platform),
        secrets=secrets(platform),
    )
    out.mkdir(parents=True, exist_ok=True)
    md.write_text(text)
    svg.write_text(picture)
    return [md, svg]
