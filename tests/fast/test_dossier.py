"""The dossier's topology: derived from the model, laid out by Graphviz, no label on another."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from homelab.cli import main
from homelab.dossier import mermaid, topology_graph, write_dossier
from homelab.model import Listener, Platform
from homelab.model.base import Exposure
from homelab.services import daemons
from homelab.services.litellm import gateway, gateway_host
from homelab.services.mcp_tools import secrets as tool_secrets
from homelab.services.mcp_tools import tools_on
from homelab.services.optillm import OptillmProxy
from homelab.services.searxng import Searxng

SVG = "{http://www.w3.org/2000/svg}"


def layout(platform: Platform) -> dict[str, Any]:
    """``dot -Tjson`` of the picture: every node, cluster and edge with its drawn text."""
    laid: dict[str, Any] = json.loads(
        topology_graph(platform).pipe(format="json", encoding="utf-8")
    )
    return laid


def searxng(platform: Platform) -> Searxng:
    found = platform.host(gateway_host(platform)).get(Searxng)
    assert found is not None, "the search runs beside the gateway"
    return found


def optillm(platform: Platform) -> OptillmProxy:
    found = platform.host(gateway_host(platform)).get(OptillmProxy)
    assert found is not None, "OptiLLM runs beside the gateway"
    return found


def variant(platform: Platform) -> Platform:
    """The platform with the gateway and the search on other ports and OptiLLM's mode off."""
    home = gateway_host(platform)
    litellm, search = gateway(platform), searxng(platform)
    port = litellm.listener.port + 111
    moved = Listener(port=port, exposure=Exposure.LAN, lan_reason="test")
    searched = search.listener.evolve(port=search.listener.port + 11)
    host = platform.host(home).evolve(
        litellm=litellm.evolve(listener=moved),
        searxng=search.evolve(listener=searched),
    )
    return platform.evolve(
        hosts={**platform.hosts, home: host},
        gateway=platform.gateway.evolve(route_via_optillm=False, opt_handles=()),
    )


@pytest.fixture(params=["shipped", "variant"])
def model(request: pytest.FixtureRequest, platform: Platform, dot: str) -> Platform:
    return platform if request.param == "shipped" else variant(platform)


def where(listener: Listener) -> str:
    return f"{listener.bind}:{listener.port}"


def test_every_daemon_is_drawn_in_its_host(model: Platform) -> None:
    laid = layout(model)
    by_id = {o["_gvid"]: o for o in laid["objects"]}
    chart = mermaid(model)
    for role in model.hosts:
        cluster = next(o for o in laid["objects"] if o["name"] == f"cluster_{role}")
        assert model.addresses[role] in cluster["label"]
        labels = [by_id[i]["label"] for i in cluster.get("nodes", [])]
        for d in daemons(model, role):
            drawn = [x for x in labels if f"<B>{d.name}</B>" in x and where(d.listener) in x]
            assert len(drawn) == 1, f"{role}/{d.name} {where(d.listener)}: drawn {len(drawn)}x"
            lines = [
                x
                for x in chart.splitlines()
                if f'["{d.name}<br/>{where(d.listener)}' in x and x.strip().startswith(f"{role}_")
            ]
            assert len(lines) == 1, f"{role}/{d.name}: {len(lines)} Mermaid nodes"
        assert f'subgraph {role}["{role} ({model.addresses[role]})"]' in chart


def port_of(label: str) -> int:
    found = re.search(r":(\d+) ", label)
    assert found, label
    return int(found.group(1))


def test_gateway_arrows_reach_every_route_backend(model: Platform) -> None:
    laid = layout(model)
    by_id = {o["_gvid"]: o for o in laid["objects"]}
    listener = gateway(model).listener
    gw = next(o for o in laid["objects"] if where(listener) in o.get("label", ""))
    out = [e for e in laid["edges"] if e["tail"] == gw["_gvid"]]
    reached = {port_of(by_id[e["head"]]["label"]) for e in out}
    every = model.routes()
    wanted = {urlsplit(r.api_base).port for r in every} | {searxng(model).listener.port}
    assert reached == wanted
    # Each route counted once: by its handle, or in an "N routes" arrow.
    counted = sum(
        int(e["label"].split()[0]) if e["label"].split()[0].isdigit() else 1
        for e in out
        if e["label"] != model.gateway.search_tool
    )
    assert counted == len(every)
    internal = [r for r in every if r.internal]
    proxy = optillm(model).listener
    back = [
        e
        for e in laid["edges"]
        if e["head"] == gw["_gvid"] and where(proxy) in by_id[e["tail"]]["label"]
    ]
    assert len(back) == (1 if internal else 0), "OptiLLM's loop back to the gateway"
    chart = mermaid(model)
    assert chart.count(" -->|") == len(laid["edges"])
    for r in every:
        if len(every) < 3 or not r.internal:
            continue
        assert r.handle in chart or f"{sum(x.internal for x in every)} routes" in chart


def text_boxes(laid: dict[str, Any]) -> list[tuple[str, float, float, float, float]]:
    """(text, left, bottom, right, top) of every label Graphviz drew, in its coordinates."""
    boxes = []
    for thing in laid["objects"] + laid["edges"]:
        size = 14.0
        for op in thing.get("_ldraw_", []):
            if op["op"] == "F":
                size = op["size"]
            if op["op"] == "T":
                x, y = op["pt"]
                w = op["width"]
                left = {"l": x, "c": x - w / 2, "r": x - w}[op["align"]]
                # y is the baseline: DejaVu Sans' descender below it, its ascender above.
                boxes.append((op["text"], left, y - 0.24 * size, left + w, y + 0.76 * size))
    return boxes


def overlaps(boxes: list[tuple[str, float, float, float, float]]) -> list[str]:
    return [
        f"{a[0]!r} on {b[0]!r}"
        for a, b in combinations(boxes, 2)
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]


def test_no_label_overlaps_another(model: Platform) -> None:
    boxes = text_boxes(layout(model))
    assert len(boxes) > 2 * sum(len(daemons(model, host)) for host in model.hosts)
    assert overlaps(boxes) == []


def test_overlap_check_sees_labels_on_each_other() -> None:
    a = ("a", 0.0, 0.0, 50.0, 10.0)
    assert overlaps([a, ("b", 40.0, 5.0, 90.0, 15.0)]) == ["'a' on 'b'"]
    assert overlaps([a, ("c", 50.0, 0.0, 90.0, 10.0)]) == []


def test_dossier_files(tmp_path: Path, model: Platform) -> None:
    md, svg = write_dossier(model, tmp_path)
    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG}svg"
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert sorted(texts) == sorted(b[0] for b in text_boxes(layout(model)))
    classes = {g.get("id"): g.get("class") for g in root.iter(f"{SVG}g")}
    for host in model.hosts:
        for d in daemons(model, host):
            assert classes[f"svc-{d.name}"] == f"node {d.listener.exposure.value}", d.name
    text = md.read_text()
    block = text.split("```mermaid\n", 1)[1].split("\n```", 1)[0]
    assert block == mermaid(model)
    assert f"![topology]({svg.name})" in text


def test_mermaid_names_only_declared_nodes(platform: Platform) -> None:
    chart = mermaid(platform).splitlines()
    assert chart[0] == "flowchart LR"
    declared = {m.group(1) for line in chart for m in [re.match(r"\s+(\w+)[\[(]", line)] if m}
    arrows = [re.fullmatch(r'\s+(\w+) -->\|"[^"|]+"\| (\w+)', x) for x in chart if "-->" in x]
    assert arrows and all(arrows)
    used = {name for m in arrows if m for name in m.groups()}
    assert used <= declared


def test_dossier_without_dot_says_so_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "dossier"
    assert main(["dossier", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "graphviz" in err and "dot" in err
    assert not out.exists()


@pytest.mark.parametrize("which", ["real", "lab"])
def test_dossier_lists_every_secret_a_reader_reads(
    tmp_path: Path, which: str, platform: Platform, lab_platform: Platform, dot: str
) -> None:
    model = platform if which == "real" else lab_platform
    md, _svg = write_dossier(model, tmp_path)
    section = md.read_text().split("## Secrets\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| (\w+) \| `([A-Z][A-Z0-9_]*)` \|", section, re.M))
    read = {
        (host, ref.env)
        for host in model.hosts
        for d in daemons(model, host)
        if d.enabled
        for ref in d.secrets.values()
    }
    read |= {
        (host, ref.env)
        for host in model.hosts
        for _tool in tools_on(model, host).tools
        for ref in tool_secrets(model).values()
    }
    assert ("mini", "WEBUI_ADMIN_PASSWORD") in read
    assert listed == read, f"missing {sorted(read - listed)}, not read {sorted(listed - read)}"
