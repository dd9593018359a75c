"""A host joins the lab by its inventory entry and its data file alone, and leaves the same way.

The test writes exactly what an operator would: one name more in ``lab/inventory.py`` and
``lab/group_data/hosts/<name>.py`` (a Mac's stand-in serving a tiny model of its own), brings
the lab up (the new host boots beside the others), deploys and verifies every host. Then it
takes both back out, brings the lab up again (the host stops), deploys, and checks that the
gateway routes only to the rest and that every host still verifies. ``git diff --stat`` of the
change is printed (``-s`` shows it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.load import load_platform
from homelab.services.litellm import gateway_host
from tests.lab.conftest import LAB_INVENTORY, deploy, lab_status, run_lab, ssh
from tests.lab.test_day_two import green

pytestmark = pytest.mark.lab

NAME = "mac3"
MODEL = "mlx-tiny-llama-c"
DATA_FILE = PROJECT_ROOT / "lab" / "group_data" / "hosts" / f"{NAME}.py"
DATA = f'''"""A third Mac (Linux in the lab): one tiny model of its own."""

from homelab.groupdata import validating
from homelab.lab.data import mac_stand_in, tiny
from homelab.model import Host

with validating("{NAME}", top="Host"):
    host = Host(**mac_stand_in({{}}, [tiny("{MODEL.removeprefix("mlx-")}", 8100)]))
'''


def with_host(text: str) -> str:
    """The lab inventory's text with ``NAME`` listed last (its address is derived from that)."""
    old = '_lab.inventory(("mini", "studio", "mac2"))'
    assert old in text, f"lab/inventory.py no longer lists its hosts as {old}"
    return text.replace(old, f'_lab.inventory(("mini", "studio", "mac2", "{NAME}"))')


def router_yaml() -> str:
    platform = load_platform(LAB_INVENTORY)
    home = gateway_host(platform)
    path = platform.daemon(home, "litellm").config
    assert path is not None
    result = ssh(home, f"cat {path}")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def joined(lab: dict[str, object]) -> Iterator[str]:
    """The lab with ``NAME`` added by its two files; both taken back out afterwards."""
    inventory = LAB_INVENTORY.read_text()
    try:
        LAB_INVENTORY.write_text(with_host(inventory))
        DATA_FILE.write_text(DATA)
        stat = subprocess.run(
            ["git", "diff", "--stat", "--", "lab"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        untracked = subprocess.run(
            ["git", "status", "--short", "--", "lab"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        yield stat + untracked
    finally:
        LAB_INVENTORY.write_text(inventory)
        DATA_FILE.unlink(missing_ok=True)


def test_a_host_joins_and_leaves_by_its_inventory_entry_and_data_file(
    joined: str, tmp_path: Path
) -> None:
    print(f"\nthe change, as git sees it:\n{joined}")
    up = run_lab("up")
    assert up.returncode == 0, up.stderr
    hosts = lab_status()["hosts"]
    assert hosts.get(NAME, {}).get("running"), f"{NAME} is not running: {hosts.get(NAME)}"

    platform = load_platform(LAB_INVENTORY)
    assert NAME in platform.hosts
    address = platform.addresses[NAME]
    deploy()
    assert f"http://{address}:8100/v1" in router_yaml(), f"the gateway does not route to {NAME}"
    (tmp_path / "joined").mkdir()
    green(LAB_INVENTORY, tmp_path / "joined")

    # Out again: the inventory entry and the data file go, the lab and the deploy follow.
    LAB_INVENTORY.write_text(LAB_INVENTORY.read_text().replace(f', "{NAME}"', ""))
    DATA_FILE.unlink()
    up = run_lab("up")
    assert up.returncode == 0, up.stderr
    left = lab_status()["hosts"].get(NAME, {})
    assert not left.get("running"), f"{NAME} still runs after it left the inventory: {left}"
    deploy()
    routes = router_yaml()
    assert address not in routes, f"the gateway still routes to {NAME} at {address}"
    assert MODEL not in routes, f"the gateway still serves {MODEL}"
    (tmp_path / "left").mkdir()
    green(LAB_INVENTORY, tmp_path / "left")
    # Its root is the lab's to delete, not the test's to keep: the disk is the machine's.
    destroyed = run_lab("destroy", NAME)
    assert destroyed.returncode == 0, destroyed.stderr
