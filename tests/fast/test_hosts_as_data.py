"""Hosts are data: a host joins and leaves by an inventory entry and one data file, services
run where the data places them, and the rules that span hosts see every service of each."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.groupdata import DATA_KEY, InvalidGroupData
from homelab.load import load_platform
from homelab.model import Platform
from homelab.render import host_files
from homelab.services.open_webui import SERVICE as OPEN_WEBUI
from homelab.services.open_webui import OpenWebUI

#: A Linux box that joins the real data: an OpenVINO server of its own.
BOX = """
from homelab.groupdata import validating
from homelab.model import Host

with validating("box", top="Host"):
    host = Host(
        system="linux",
        ov_server=dict(
            source=dict(url="https://example.org/ov-server", ref="v0.3.0"),
            device="CPU",
            models=(dict(model_id="ov-tinyllama-1-1b-chat-fp16", context_length=2048),),
        ),
    )
"""

BOX_ADDRESS = "10.99.0.5"


def project(tmp: Path, hosts: dict[str, str]) -> Path:
    """A copy of the real inventory and group data in ``tmp``, its inventory listing ``hosts``
    (name -> address); the hosts say their data is here (the project's own stays away)."""
    shutil.copytree(PROJECT_ROOT / "group_data", tmp / "group_data")
    data = str((tmp / "group_data").resolve())
    entries = ",\n".join(
        f'    ({name!r}, {{"ssh_hostname": {address!r}, {DATA_KEY!r}: {data!r}}})'
        for name, address in hosts.items()
    )
    (tmp / "inventory.py").write_text(f"homelab = [\n{entries},\n]\n")
    return tmp / "inventory.py"


#: The real hosts, at made-up unroutable addresses (this copy of the data is never deployed).
REAL = {"mini": "10.99.0.11", "studio": "10.99.0.12"}


def test_a_host_joins_by_an_inventory_entry_and_its_data_file(tmp_path: Path) -> None:
    inventory = project(tmp_path, {**REAL, "box": BOX_ADDRESS})
    (tmp_path / "group_data" / "hosts" / "box.py").write_text(BOX)

    platform = load_platform(inventory)

    assert list(platform.hosts) == ["mini", "studio", "box"]
    assert [d.name for d in platform.daemons("box")] == ["ov-server"]
    route = next(r for r in platform.routes() if r.handle == "ov-tinyllama-1-1b-chat-fp16")
    assert route.api_base == f"http://{BOX_ADDRESS}:9000/v1", route
    paths = {f.path for f in host_files(platform, "box")}
    assert "/etc/systemd/system/ov-server.service" in paths, sorted(paths)


def test_the_project_data_stays_out_of_an_inventory_that_names_its_own(tmp_path: Path) -> None:
    """The project's group_data runs for every inventory (pyinfra's cwd): it must not refuse
    hosts it does not describe when the inventory takes its data from elsewhere."""
    inventory = project(tmp_path, {**REAL, "box": BOX_ADDRESS})
    (tmp_path / "group_data" / "hosts" / "box.py").write_text(BOX)
    assert "box" in load_platform(inventory).hosts


def test_a_host_leaves_the_same_way(tmp_path: Path) -> None:
    inventory = project(tmp_path, {"mini": REAL["mini"]})
    (tmp_path / "group_data" / "hosts" / "studio.py").unlink()

    platform = load_platform(inventory)

    assert list(platform.hosts) == ["mini"]
    bases = {r.api_base for r in platform.routes()}
    assert not any(REAL["studio"] in base for base in bases), bases


def test_a_host_without_its_data_file_is_refused_by_name(tmp_path: Path) -> None:
    inventory = project(tmp_path, {**REAL, "box": BOX_ADDRESS})
    with pytest.raises(InvalidGroupData) as error:
        load_platform(inventory)
    assert any(p.startswith("hosts.box: no data file") for p in error.value.problems), error.value


def evolved(platform: Platform, host: str, **changes: object) -> Platform:
    """``platform`` with ``host``'s data changed (services by their keys), validated again."""
    data = platform.host(host).model_dump_data()
    hosts = {**platform.hosts, host: {**data, **changes}}
    return platform.evolve(hosts=hosts)


def problems(platform: Platform, host: str, **changes: object) -> list[str]:
    from pydantic import ValidationError

    from homelab.groupdata import problems_of

    with pytest.raises(ValidationError) as error:
        evolved(platform, host, **changes)
    return problems_of(error.value, top="Platform")


def test_a_port_taken_by_another_service_on_the_host_is_refused(platform: Platform) -> None:
    """Any service's listener, not only those a backend's switchboard named: AFM on an MLX
    server's port (the Studio serves mlx-8101)."""
    afm = dict(
        enabled=True,
        model_ids=("afm-foundation-base",),
        listener=dict(port=8101, exposure="lan", lan_reason="the gateway calls it"),
    )
    found = problems(platform, "studio", afm=afm)
    assert (
        "studio.afm.listener.port: 8101 is also used by studio.mlx.models[1].port "
        "(rule: no two services on one host share a port)"
    ) in found, found


def test_a_base_port_taken_by_a_service_is_refused(platform: Platform) -> None:
    found = problems(platform, "mini", base_ports={4000: "an old proxy"})
    assert (
        "mini.litellm.listener.port: 4000 is also used by mini.base_ports (an old proxy) "
        "(rule: no two services on one host share a port)"
    ) in found, found


def test_a_service_only_on_a_system_it_supports(platform: Platform) -> None:
    mlx = platform.host("studio").model_dump_data()["mlx"]
    found = problems(platform, "mini", mlx=mlx, run_as="llm", hf_home="/var/lib/hf")
    assert any(
        p.startswith("mini.mlx: mlx runs on macos, not linux (rule: a service only on a system")
        for p in found
    ), found


def test_exactly_one_gateway(platform: Platform) -> None:
    found = problems(platform, "studio", litellm={})
    assert found == ["hosts: 2 hosts place litellm (mini, studio) (rule: exactly one gateway)"], (
        found
    )


def test_no_gateway_is_refused(platform: Platform) -> None:
    data = platform.host("mini").model_dump_data()
    del data["litellm"]
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"0 hosts place litellm \(none\)"):
        platform.evolve(hosts={**platform.hosts, "mini": data})


def test_a_gateway_client_finds_the_gateway_on_another_host(platform: Platform) -> None:
    """Open WebUI moved to the Studio reaches the gateway at the Mini's address."""
    mini = platform.host("mini").model_dump_data()
    webui = mini.pop("open_webui")
    mini["takeover"] = {**mini["takeover"], "open_webui_data": None}
    mini["takeover"]["units"] = [
        u for u in mini["takeover"]["units"] if u["unit"] != "open-webui.service"
    ]
    studio = {**platform.host("studio").model_dump_data(), "open_webui": webui}
    moved = platform.evolve(hosts={**platform.hosts, "mini": mini, "studio": studio})

    (daemon,) = OPEN_WEBUI.daemons(moved, "studio")
    env = OPEN_WEBUI.environment(moved, daemon)
    assert env["OPENAI_API_BASE_URL"] == f"http://{moved.addresses['mini']}:4000/v1", env
    assert moved.host("studio").get(OpenWebUI) is not None


def test_the_init_system_is_an_object_not_a_test_of_darwin() -> None:
    """``darwin`` stands in the launchd implementation and the toolchain only."""
    found = subprocess.run(
        ["git", "grep", "-l", "-i", "darwin", "--", "homelab/*.py", "deploys/*.py", "verify/*.py"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    outside_lab = [f for f in found if not f.startswith("homelab/lab/")]
    assert len(outside_lab) <= 2, outside_lab


def test_no_code_outside_the_lab_names_a_host() -> None:
    found = subprocess.run(
        [
            *("git", "grep", "-n", "-E", r"platform\.(mini|studio)\b|[\"'](mini|studio)[\"']"),
            *("--", "homelab", "deploys", "verify", ":!homelab/lab"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    assert found == [], found


def test_the_lab_inventory_names_its_own_data() -> None:
    from homelab.lab import config

    assert config.LAB_DATA_KEY == DATA_KEY
    assert (config.LAB_GROUP_DATA / "all.py").is_file()


def test_the_lab_has_three_hosts_the_third_a_replica(lab_platform: Platform) -> None:
    assert list(lab_platform.hosts) == ["mini", "studio", "mac2"]
    routes = [r for r in lab_platform.routes() if r.handle == "router-mlx-tiny-llama-a"]
    bases = sorted(r.api_base for r in routes)
    expected = sorted(f"http://{lab_platform.addresses[h]}:8100/v1" for h in ("studio", "mac2"))
    assert bases == expected, bases


def test_a_host_added_since_the_last_load_is_there(tmp_path: Path) -> None:
    """A process that loads the data twice (a test, the console) sees it as it is now."""
    inventory = project(tmp_path, REAL)
    assert "box" not in load_platform(inventory).hosts
    data = str((tmp_path / "group_data").resolve())
    entry = f"    ('box', {{'ssh_hostname': {BOX_ADDRESS!r}, {DATA_KEY!r}: {data!r}}}),\n]\n"
    project_again = inventory.read_text().replace("]\n", entry)
    inventory.write_text(project_again)
    (tmp_path / "group_data" / "hosts" / "box.py").write_text(BOX)
    assert "box" in load_platform(inventory).hosts
