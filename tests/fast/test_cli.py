"""The ``homelab`` command end to end: check, render, dossier, on the shipped data and on
broken copies of it. Nothing here contacts a host."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.cli import main
from homelab.model import Platform
from homelab.render import MANIFEST, host_files
from homelab.services import daemons
from tests.fast import forkrun
from tests.fast.inprocess import homelab


def test_check_passes_on_the_shipped_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "group data valid" in capsys.readouterr().out


#: The unroutable test addresses the copies of the inventory give the hosts instead.
TEST_ADDRESSES = {"mini": "10.255.255.31", "studio": "10.255.255.32"}


def unroutable_inventory(into: Path) -> Path:
    """A copy of the real inventory in ``into``, its hosts at the test addresses."""
    text = (PROJECT_ROOT / "inventory.py").read_text()
    for name, test in TEST_ADDRESSES.items():
        entry = re.compile(rf'(\("{name}", \{{"ssh_hostname": ")[^"]+"')
        text, found = entry.subn(rf'\g<1>{test}"', text)
        assert found == 1, f"no address of {name} in the inventory"
    assert not re.findall(r'"ssh_hostname": "(?!10\.255\.255\.)', text), text
    (into / "inventory.py").write_text(text)
    return into / "inventory.py"


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A copy of the inventory (at the test addresses) and its group data, to break one rule
    at a time."""
    unroutable_inventory(tmp_path)
    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data")
    return tmp_path


BROKEN = [
    ("hosts/studio.py", "port=8101,", "port=8125,", "team range 8100-8119"),
    ("hosts/studio.py", "port=8120,", "port=8105,", "experimental range 8120-8139"),
    ("hosts/studio.py", "port=8101,", "port=8100,", "no two services on one host share a port"),
    (
        "hosts/studio.py",
        'model_id="mlx-llama-3-2-3b-instruct-4bit"',
        'model_id="mlx-Llama-3.2-3B-Instruct-4bit"',
        "dash-only",
    ),
    (
        "hosts/studio.py",
        'model_id="mlx-llama-3-2-3b-instruct-4bit"',
        'model_id="mlx-mlx-community-llama-3-2-3b"',
        "no vendor prefixes",
    ),
    (
        "hosts/studio.py",
        'model_id="mlx-llama-3-2-3b-instruct-4bit"',
        'model_id="mlx-qwen2-5-7b-instruct-4bit"',
        "handles are unique",
    ),
    (
        "hosts/studio.py",
        "context_length=131072,\n                ),\n            ),",
        "context_length=131072,\n                    port=8103,\n"
        "                ),\n            ),",
        "backroom storage gets no handle",
    ),
    (
        "hosts/mini.py",
        'dict(model_id="ov-qwen2-5-3b-instruct-fp16"',
        'dict(model_id="qwen2-5-3b-instruct-fp16"',
        "does not start with 'ov-'",
    ),
    (
        "all.py",
        "opt_handles=(),",
        'opt_handles=(dict(handle="opt-moa-qwen", technique="moa", '
        'base="mlx-qwen2-5-7b-instruct-4bit"),),',
        "technique prefixes belong only in OptiLLM selectors",
    ),
    (
        "all.py",
        "json_logs=True,",
        'json_logs=True, proxy_key="sk-live-1234",',
        "secrets are references",
    ),
    (
        "all.py",
        "json_logs=True,",
        "json_logs=True, jsonlogs=True,",
        "Extra inputs are not permitted",
    ),
    (
        "hosts/mini.py",
        "searxng=dict(",
        'searxng=dict(listener=dict(port=8888, exposure="lan"),',
        "declared so on purpose",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "rule"),
    BROKEN,
    ids=[b[3].split()[0] + "-" + str(i) for i, b in enumerate(BROKEN)],
)
def test_check_names_the_broken_rule(
    data_copy: Path, capsys: pytest.CaptureFixture[str], file: str, old: str, new: str, rule: str
) -> None:
    path = data_copy / "group_data" / file
    text = path.read_text()
    assert old in text, f"the shipped {file} no longer has {old!r}: update this case"
    path.write_text(text.replace(old, new, 1))
    assert main(["check", "--inventory", str(data_copy / "inventory.py")]) == 2
    err = capsys.readouterr().err
    assert rule in err, err


def test_check_lists_every_problem(data_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_copy / "group_data" / "hosts" / "studio.py"
    path.write_text(
        path.read_text().replace("port=8101,", "port=8125,").replace("port=8120,", "port=8105,")
    )
    assert main(["check", "--inventory", str(data_copy / "inventory.py")]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err
    assert "studio.mlx.models[1].port: 8125 is outside the team range" in err
    assert "studio.mlx.models[3].port: 8105 is outside the experimental range" in err


def test_check_lists_problems_of_both_hosts(
    data_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    studio = data_copy / "group_data" / "hosts" / "studio.py"
    studio.write_text(studio.read_text().replace("port=8101,", "port=8125,"))
    mini = data_copy / "group_data" / "hosts" / "mini.py"
    mini.write_text(mini.read_text().replace('device="GPU"', 'device="TPU"'))
    assert main(["check", "--inventory", str(data_copy / "inventory.py")]) == 2
    err = capsys.readouterr().err
    assert "mini.ov_server.device" in err and "studio.mlx.models[1].port" in err


def test_check_refuses_a_host_without_data(
    data_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = data_copy / "inventory.py"
    text = inv.read_text()
    assert text.count('("studio", ') == 1
    inv.write_text(text.replace('("studio", ', '("elsewhere", '))
    assert main(["check", "--inventory", str(inv)]) == 2
    err = capsys.readouterr().err
    assert "hosts.elsewhere: no data file" in err, err


def test_check_refuses_an_unreachable_address(
    data_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = data_copy / "inventory.py"
    inv.write_text(inv.read_text().replace(TEST_ADDRESSES["studio"], "0.0.0.0"))
    assert main(["check", "--inventory", str(inv)]) == 2
    assert "addresses.studio" in capsys.readouterr().err


def test_pyinfra_stops_on_bad_data_before_connecting(data_copy: Path) -> None:
    """The deploy entry point refuses invalid data while loading the inventory."""
    path = data_copy / "group_data" / "hosts" / "studio.py"
    path.write_text(path.read_text().replace("port=8101,", "port=8125,"))
    result = forkrun.run(
        [str(data_copy / "inventory.py"), "debug-inventory"], data_copy, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "team range 8100-8119" in output
    assert "Connecting" not in output


@pytest.mark.parametrize("host", ["mini", "studio"])
def test_render_writes_every_file(tmp_path: Path, platform: Platform, host: str) -> None:
    assert main(["render", host, "--out", str(tmp_path)]) == 0
    for f in host_files(platform, host):
        written = tmp_path / f.path.lstrip("/")
        assert written.read_text() == f.content


def test_render_into_a_previous_render_leaves_exactly_the_render(
    tmp_path: Path, platform: Platform
) -> None:
    """The Studio's files stand for files the model no longer renders: they are removed."""
    assert main(["render", "studio", "--out", str(tmp_path)]) == 0
    assert main(["render", "mini", "--out", str(tmp_path)]) == 0
    found = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    expected = {f.path.lstrip("/") for f in host_files(platform, "mini")}
    assert found == expected | {MANIFEST}, sorted(found ^ (expected | {MANIFEST}))
    assert not [p for p in tmp_path.rglob("*") if p.is_dir() and not any(p.iterdir())]


def test_render_refuses_a_folder_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(["render", "mini", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "no render wrote" in err and len(err.splitlines()) == 1, err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_dossier(tmp_path: Path, platform: Platform, dot: str) -> None:
    assert main(["dossier", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "PLATFORM_DOSSIER.md").read_text()
    svg = ET.parse(tmp_path / "topology.svg").getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = {g.get("id"): g.get("class") for g in svg.iterfind(".//s:g", ns)}
    for role in platform.hosts:
        assert f"| {role} | {platform.addresses[role]} |" in md
        for d in daemons(platform, role):
            assert f"| {role} | {d.name} |" in md
            assert f"`{d.unit_path}`" in md
            exposure = "lan" if d.listener.lan else "loopback"
            assert groups[f"svc-{d.name}"] == f"node {exposure}", d.name
    assert len(svg.findall(".//s:g[@class='edge route']", ns)) >= len(
        {r.api_base for r in platform.routes()}
    )


def test_debug_inventory_serialises_the_platform() -> None:
    """pyinfra's debug-inventory needs to_json() on models kept in group data."""
    result = forkrun.run(["inventory.py", "debug-inventory"], PROJECT_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "mlx-qwen2-5-7b-instruct-4bit" in result.stdout + result.stderr
    json.dumps(Platform.model_json_schema())  # the schema itself is serialisable too


def _homelab(*args: str) -> subprocess.CompletedProcess[str]:
    return homelab(*args)  # in this process: what ``python -m homelab.cli ARGS`` answers


def test_version() -> None:
    from importlib.metadata import version

    done = _homelab("--version")
    assert done.returncode == 0 and done.stdout == f"homelab {version('homelab-llm')}\n"


NO_LAPTOP = "no host 'laptop' in the inventory (hosts: mini, studio)"


@pytest.fixture(scope="module")
def test_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unroutable_inventory(tmp_path_factory.mktemp("inventory"))


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("dossier", "--out", "{file}"), "a file, not a directory"),
        (("render", "mini", "--out", "{file}"), "a file, not a directory"),
        (("render", "laptop", "--out", "{dir}/out"), NO_LAPTOP),
        (("way-back", "laptop"), NO_LAPTOP),
        (("diff", "laptop", "--inventory", "{inventory}"), NO_LAPTOP),
        (("backup", "laptop", "--inventory", "{inventory}"), NO_LAPTOP),
        (("backup", "studio", "--inventory", "{inventory}"), "studio runs no Open WebUI"),
        (("check", "--inventory", "{dir}/nowhere.py"), "nowhere.py is not a file"),
        (("status", "--inventory", "{dir}/nowhere.py"), "nowhere.py is not a file"),
        (("logs", "nginx", "--inventory", "{inventory}"), "no service 'nginx' in the model"),
        (("logs", "litellm", "-n", "-1", "--inventory", "{inventory}"), "-n -1"),
        (("logs", "litellm", "-n", "many"), "invalid int value: 'many'"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        ((), "the following arguments are required: command"),
    ],
)
def test_misuse_is_answered_in_one_line(
    tmp_path: Path, test_inventory: Path, args: tuple[str, ...], said: str
) -> None:
    """Nothing contacted: each is refused before a host would be. The commands that reach
    hosts are given the inventory at the test addresses: a refusal that comes too late
    reaches nowhere (the real inventory is the default)."""
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    done = _homelab(*(a.format(file=afile, dir=tmp_path, inventory=test_inventory) for a in args))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert afile.read_text() == "keep me\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "afile"
    ]


@pytest.mark.parametrize("command", [("check",), ("way-back", "mini")])
def test_a_closed_stdout_ends_quietly(command: tuple[str, ...]) -> None:
    """``homelab check | head -1``, without the race: the reader is gone before any write."""
    child = subprocess.Popen(
        [sys.executable, "-m", "homelab.cli", *command],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=120) == 141, err
    assert err == "", err
