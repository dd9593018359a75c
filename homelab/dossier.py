"""PLATFORM_DOSSIER.md and the topology picture, generated from the model so they cannot drift."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from homelab import PROJECT_ROOT
from homelab.model import ROLES, Platform, Role, routes
from homelab.model.naming import ROUTER_PREFIX
from homelab.render import daemon_files
from homelab.render.engine import render
from homelab.services import Daemon, daemons


@dataclass(frozen=True)
class Row:
    """One service as the dossier shows it."""

    role: Role
    daemon: Daemon
    address: str
    config: tuple[str, ...]

    @property
    def base_url(self) -> str:
        host = self.address if self.daemon.listener.lan else self.daemon.listener.bind
        return f"http://{host}:{self.daemon.listener.port}"


def rows(platform: Platform) -> list[Row]:
    out = []
    for role in ROLES:
        for d in daemons(platform, role):
            files = tuple(f.path for f in daemon_files(platform, d)[1:])
            if d.secrets_env:
                files += (f"{d.secrets_env} (secrets, made on the host)",)
            out.append(Row(role=role, daemon=d, address=platform.addresses[role], config=files))
    return out


@dataclass(frozen=True)
class Box:
    key: str
    label: str
    sub: str
    x: int
    y: int
    lan: bool
    enabled: bool


BOX_W, BOX_H, GAP = 230, 46, 14
WIDTH, COLUMN, CLIENTS_X = 1000, 560, 500


def topology(platform: Platform) -> dict[str, object]:
    """Positions of hosts, services and the routes between them, for the SVG template."""
    hosts = []
    boxes: dict[str, Box] = {}
    for col, role in enumerate(ROLES):
        x = 40 + col * COLUMN
        y = 120
        for d in daemons(platform, role):
            boxes[d.name] = Box(
                key=d.name,
                label=d.name,
                sub=f"{d.listener.bind}:{d.listener.port}" + ("" if d.enabled else " (off)"),
                x=x + 20,
                y=y,
                lan=d.listener.lan,
                enabled=d.enabled,
            )
            y += BOX_H + GAP
        hosts.append(
            {
                "role": role,
                "address": platform.addresses[role],
                "x": x,
                "y": 80,
                "w": BOX_W + 40,
                "h": y - 80 + 10,
            }
        )
    edges: list[tuple[str, str, str]] = [
        ("clients", "litellm", "LAN clients"),
        ("open-webui", "litellm", "chat"),
    ]
    mode = platform.gateway.route_via_optillm
    for r in routes(platform):
        if r.internal:
            target = next(
                (
                    d.name
                    for d in daemons(platform, "studio")
                    if d.listener.port == int(r.api_base.rsplit(":", 1)[1].split("/")[0])
                ),
                None,
            )
            if target:
                edges.append(("litellm", target, r.handle))
        elif r.api_base.endswith(f":{platform.mini.optillm.listener.port}/v1"):
            edges.append(("litellm", "optillm", r.handle))
        elif r.backend.value == "ov":
            edges.append(("litellm", "ov-server", r.handle))
        else:
            for d in daemons(platform, "studio"):
                if r.api_base.endswith(f":{d.listener.port}/v1"):
                    edges.append(("litellm", d.name, r.handle))
    if mode or platform.gateway.opt_handles:
        edges.append(("optillm", "litellm", ROUTER_PREFIX + "mlx-*"))
    edges.append(("litellm", "searxng", platform.gateway.search_tool))
    # One arrow per pair; the label lists how many routes it carries.
    merged: dict[tuple[str, str], list[str]] = {}
    for src, dst, label in edges:
        merged.setdefault((src, dst), []).append(label)
    arrows = [
        _arrow(
            boxes.get(src),
            boxes[dst],
            labels[0] if len(labels) == 1 else f"{len(labels)} routes",
            i,
        )
        for i, ((src, dst), labels) in enumerate(merged.items())
    ]
    height = max(int(str(h["y"])) + int(str(h["h"])) for h in hosts) + 60
    return {
        "hosts": hosts,
        "boxes": boxes,
        "arrows": arrows,
        "height": height,
        "width": WIDTH,
        "box_w": BOX_W,
        "box_h": BOX_H,
    }


def _arrow(src: Box | None, dst: Box, label: str, index: int) -> dict[str, object]:
    """An SVG path: straight across hosts, a bow along the left edge within one host."""
    if src is None:  # from the clients above the hosts
        x1, y1 = CLIENTS_X, 50
        x2, y2 = dst.x + BOX_W // 2, dst.y
        return {
            "d": f"M {x1} {y1} L {x2} {y2}",
            "label": label,
            "lx": x1 + 6,
            "ly": y1 + 22,
            "src": "clients",
            "dst": dst.key,
        }
    if src.x != dst.x:
        x1, y1 = src.x + BOX_W, src.y + BOX_H // 2
        x2, y2 = dst.x, dst.y + BOX_H // 2
        # The label sits near the destination, where the lines have fanned out.
        lx = x2 - 200
        ly = y1 + (y2 - y1) * (lx - x1) // (x2 - x1) - 4
        return {
            "d": f"M {x1} {y1} L {x2} {y2}",
            "label": label,
            "lx": lx,
            "ly": ly,
            "src": src.key,
            "dst": dst.key,
        }
    # Within a host: leave from the right edge and come back in, bowing outwards.
    bow = 50 + 30 * (index % 3)
    x1, y1 = src.x + BOX_W, src.y + BOX_H // 2 + 6
    x2, y2 = dst.x + BOX_W, dst.y + BOX_H // 2 - 6
    d = f"M {x1} {y1} C {x1 + bow} {y1}, {x2 + bow} {y2}, {x2} {y2}"
    return {
        "d": d,
        "label": label,
        "lx": x1 + bow * 3 // 4 + 4,
        "ly": (y1 + y2) // 2 + 4,
        "src": src.key,
        "dst": dst.key,
    }


@dataclass(frozen=True)
class Difference:
    """Where the platform runs a legacy unit's service differently, on purpose, and why."""

    role: Role
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


def differences(platform: Platform) -> list[Difference]:
    """What the platform does differently from the units it takes over, derived from the data."""
    from homelab.services import daemon_named

    out: list[Difference] = []
    for role in ROLES:
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
            labels = ", ".join(d.label for d in ours)
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
    out.mkdir(parents=True, exist_ok=True)
    md = out / "PLATFORM_DOSSIER.md"
    svg = out / "topology.svg"
    md.write_text(
        render(
            "dossier/PLATFORM_DOSSIER.md.j2",
            platform=platform,
            rows=rows(platform),
            routes=routes(platform),
            svg_name=svg.name,
            detour=detour_cost(),
            differences=differences(platform),
        )
    )
    svg.write_text(render("dossier/topology.svg.j2", **topology(platform)))
    return [md, svg]
