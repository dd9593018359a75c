"""Plan a host's deploy on pyinfra's ``@fake`` connector and read back the commands it sends.

Every command "succeeds" and nothing runs; every fact comes back empty unless a test gives the
host canned answers (``responses``), so by default the plan is the one of a host that has
nothing yet. The real group data is used, addresses aside (never contacted).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from homelab import PROJECT_ROOT
from tests.fast import forkrun

#: What a fake host answers: a command matcher (a substring, or an ``re.Pattern``) -> its
#: output lines, or a dict of ``stdout``/``stderr``/``success`` (pyinfra's ``fake_responses``).
Responses = dict[str | re.Pattern[str], object]

#: The Mini answers as Linux does; every other fact comes back empty (a host with nothing yet).
LINUX: Responses = {"uname -s": "Linux", "command -v useradd": "/usr/sbin/useradd"}


def fake_inventory(responses: dict[str, Responses] | None = None) -> str:
    """The inventory of two fake hosts; ``responses`` by role come first, before LINUX's."""
    responses = responses or {}
    mini: Responses = {**responses.get("mini", {}), **LINUX}
    studio = responses.get("studio", {})
    return (
        "import re\n"
        f"mini = [('@fake/mini', {{'ssh_hostname': '10.99.0.11', 'fake_delay': 0, "
        f"'fake_responses': {mini!r}}})]\n"
        f"studio = [('@fake/studio', {{'ssh_hostname': '10.99.0.12', 'fake_delay': 0, "
        f"'fake_responses': {studio!r}}})]\n"
    )


def plan(
    folder: Path, role: str, responses: dict[str, Responses] | None = None
) -> subprocess.CompletedProcess[str]:
    """``pyinfra`` run on the fake hosts, limited to ``role``: its completed process."""
    (folder / "inventory.py").write_text(fake_inventory(responses))
    env = {**os.environ, "PYINFRA_FAKE_DELAY": "0", "PYINFRA_FAKE_DELAY_JITTER": "0"}
    # ``python -m pyinfra``, forked from an interpreter that has imported it (tests/fast/forkrun)
    args = [str(folder / "inventory.py"), "deploys/site.py", "--limit", role, "-y", "-vv"]
    return forkrun.run(args, PROJECT_ROOT, env, timeout=300)


def planned_commands(
    folder: Path, role: str, responses: dict[str, Responses] | None = None
) -> list[str]:
    """The shell commands a deploy of ``role`` sends, in order."""
    result = plan(folder, role, responses)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return re.findall(rf"\[@fake/{role}\]\s+>>> (.*)", output)


def first(commands: list[str], what: str, *needles: str) -> int:
    """The index of the first command holding every needle; fails naming ``what``."""
    for i, command in enumerate(commands):
        if all(n in command for n in needles):
            return i
    raise AssertionError(f"expected {what} in the plan, found none holding {needles}")


def sent(output: str, role: str) -> list[str]:
    """The commands a plan's output shows sent to ``role`` (facts' and operations')."""
    return re.findall(rf"\[@fake/{role}\]\s+>>> (.*)", output)
