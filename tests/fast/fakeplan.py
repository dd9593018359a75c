"""Plan a host's deploy on pyinfra's fake connector and read back the commands it sends.

Every command "succeeds" and nothing runs; every fact comes back empty unless a test gives the
host canned answers (``responses``), so by default the plan is the one of a host that has
nothing yet. The hosts are the ones of the inventory planned for (the real one unless told),
by their inventory names, as ``deploys/site.py`` finds its part of the platform by the host's
name; their addresses are made up (never contacted: every host runs on the fake connector).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

from homelab import PROJECT_ROOT
from homelab.load import load_platform

#: What a fake host answers: a command matcher (a substring, or an ``re.Pattern``) -> its
#: output lines, or a dict of ``stdout``/``stderr``/``success`` (pyinfra's ``fake_responses``).
Responses = dict[str | re.Pattern[str], object]

#: A Linux host answers as Linux does; every other fact comes back empty (a host with nothing).
LINUX: Responses = {"uname -s": "Linux", "command -v useradd": "/usr/sbin/useradd"}

#: The deploy every host runs.
SITE = "deploys/site.py"
REAL = PROJECT_ROOT / "inventory.py"
LAB = PROJECT_ROOT / "lab" / "inventory.py"

#: pyinfra's own CLI, with every host on the fake connector. pyinfra names a ``@fake`` host
#: ``@fake/NAME`` while the deploy finds its host by its inventory name: so the hosts keep
#: their names and the fake connector takes the place of SSH, the default one (which refuses
#: to connect here, should anything reach for it).
RUNNER = """
import sys
from pyinfra_cli.main import main
import pyinfra.api.inventory as inventory
from pyinfra.connectors.fake import FakeConnector
from pyinfra.connectors.ssh import SSHConnector

_connectors = inventory.get_execution_connectors
inventory.get_execution_connectors = lambda: {**_connectors(), "ssh": FakeConnector}

def _refused(*args, **kwargs):
    raise RuntimeError("a fake plan reached for SSH")

SSHConnector.connect = _refused
sys.argv = ["pyinfra", *sys.argv[1:]]
main()
"""


@functools.cache
def hosts_of(inventory: Path = REAL) -> dict[str, str]:
    """Each host of ``inventory`` by name, and its system as its data says."""
    return {name: host.system for name, host in load_platform(inventory).hosts.items()}


def own_data(inventory: Path) -> str | None:
    """The group data folder ``inventory``'s hosts name as theirs (the lab's), if any; a
    variant of the lab's (``bench.variant.changed_lab``) has its own beside it, which pyinfra
    reads in place of it."""
    from homelab.groupdata import DATA_KEY
    from homelab.load import load_inventory

    named = {h.data.get(DATA_KEY) for h in load_inventory(inventory)}
    found = next((str(n) for n in named if n), None)
    beside = inventory.parent / "group_data"
    return str(beside) if found and beside.is_dir() else found


def fake_inventory(responses: dict[str, Responses] | None = None, inventory: Path = REAL) -> str:
    """An inventory of the hosts of ``inventory``, each on the fake connector at a made-up
    address; ``responses`` by host come first, before LINUX's on a Linux host. The hosts name
    the group data ``inventory``'s do (the lab's)."""
    from homelab.groupdata import DATA_KEY

    responses = responses or {}
    entries = []
    data_dir = own_data(inventory)
    for i, (name, system) in enumerate(hosts_of(inventory).items()):
        answers: Responses = {**responses.get(name, {}), **(LINUX if system == "linux" else {})}
        data: dict[str, object] = {
            "ssh_hostname": f"10.99.0.{11 + i}",
            "fake_delay": 0,
            "fake_responses": answers,
        }
        if data_dir:
            data[DATA_KEY] = data_dir
        entries.append(f"    ({name!r}, {data!r}),\n")
    return f"import re\nhomelab = [\n{''.join(entries)}]\n"


def plan(
    folder: Path,
    host: str | None,
    responses: dict[str, Responses] | None = None,
    inventory: Path = REAL,
) -> subprocess.CompletedProcess[str]:
    """``pyinfra`` run on the fake hosts, limited to ``host`` (None: every host, in one run):
    its completed process."""
    (folder / "inventory.py").write_text(fake_inventory(responses, inventory))
    env = {**os.environ, "PYINFRA_FAKE_DELAY": "0", "PYINFRA_FAKE_DELAY_JITTER": "0"}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            str(folder / "inventory.py"),
            SITE,
            *(("--limit", host) if host is not None else ()),
            "-y",
            "-vv",
            *(("--group-data", data_dir) if (data_dir := own_data(inventory)) else ()),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def planned_commands(
    folder: Path,
    host: str,
    responses: dict[str, Responses] | None = None,
    inventory: Path = REAL,
) -> list[str]:
    """The shell commands a deploy of ``host`` sends, in order."""
    result = plan(folder, host, responses, inventory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return sent(output, host)


def planned_by_host(
    folder: Path, responses: dict[str, Responses] | None = None, inventory: Path = REAL
) -> dict[str, list[str]]:
    """The shell commands a deploy of every host of ``inventory`` sends, by host: one run of
    pyinfra for them all (each run costs seconds of start)."""
    result = plan(folder, None, responses, inventory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return {name: sent(output, name) for name in hosts_of(inventory)}


def first(commands: list[str], what: str, *needles: str) -> int:
    """The index of the first command holding every needle; fails naming ``what``."""
    for i, command in enumerate(commands):
        if all(n in command for n in needles):
            return i
    raise AssertionError(f"expected {what} in the plan, found none holding {needles}")


def sent(output: str, host: str) -> list[str]:
    """The commands a plan's output shows sent to ``host`` (facts' and operations')."""
    return re.findall(rf"\[{re.escape(host)}\]\s+>>> (.*)", output)
