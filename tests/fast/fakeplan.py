"""Plan a host's deploy on pyinfra's ``@fake`` connector and read back the commands it sends.

Every command "succeeds" and nothing runs; every fact comes back empty, so the plan is the one
of a host that has nothing yet. The real group data is used, addresses aside (never contacted).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from homelab import PROJECT_ROOT

#: The Mini answers as Linux does; every other fact comes back empty (a host with nothing yet).
#: ``{responses}``: more of the Mini's answers (Python source: ``"matcher": answer, ...``),
#: tried before these.
FAKE_INVENTORY = """
import re
LINUX = {{{responses}"uname -s": "Linux", "command -v useradd": "/usr/sbin/useradd"}}
mini = [("@fake/mini", {{"ssh_hostname": "10.99.0.11", "fake_delay": 0, "fake_responses": LINUX}})]
studio = [("@fake/studio", {{"ssh_hostname": "10.99.0.12", "fake_delay": 0}})]
"""


def planned_commands(folder: Path, role: str) -> list[str]:
    """The shell commands a deploy of ``role`` sends, in order."""
    result = plan(folder, role)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return sent(output, role)


def sent(output: str, role: str) -> list[str]:
    """The commands a plan's output shows sent to ``role`` (facts' and operations')."""
    return re.findall(rf"\[@fake/{role}\]\s+>>> (.*)", output)


def plan(folder: Path, role: str, responses: str = "") -> subprocess.CompletedProcess[str]:
    """``pyinfra INVENTORY deploys/site.py --limit ROLE -y -vv`` on @fake; ``responses`` as
    in :data:`FAKE_INVENTORY`."""
    (folder / "inventory.py").write_text(FAKE_INVENTORY.format(responses=responses))
    env = {**os.environ, "PYINFRA_FAKE_DELAY": "0", "PYINFRA_FAKE_DELAY_JITTER": "0"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyinfra",
            str(folder / "inventory.py"),
            "deploys/site.py",
            "--limit",
            role,
            "-y",
            "-vv",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result


def first(commands: list[str], what: str, *needles: str) -> int:
    """The index of the first command holding every needle; fails naming ``what``."""
    for i, command in enumerate(commands):
        if all(n in command for n in needles):
            return i
    raise AssertionError(f"expected {what} in the plan, found none holding {needles}")
