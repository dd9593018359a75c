"""A Python mistake in the group data is reported like a data problem: one line, file:line.

Both through ``homelab check`` and through pyinfra itself, before any host is contacted.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.cli import main
from tests.fast import forkrun

#: (host piece, text in it, its replacement, the one line expected: a pattern)
MISTAKES = [
    ("mini.py", 'device="GPU",', "device=GPU,", r"hosts/mini\.py:\d+: NameError: name 'GPU'"),
    (
        "studio.py",
        'run_as="thestudio",',
        'run_as="thestudio"',
        r"hosts/studio\.py:\d+: SyntaxError: ",
    ),
    ("mini.py", "models=(", "models=1 + (", r"hosts/mini\.py:\d+: TypeError: "),
]


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """The inventory and group data, the hosts' addresses made unroutable test ones."""
    text = (PROJECT_ROOT / "inventory.py").read_text()
    real = re.findall(r'"ssh_hostname": "([^"]+)"', text)
    assert real, "no ssh_hostname in the inventory"
    for i, address in enumerate(real):
        text = text.replace(address, f"10.255.255.{21 + i}")
    (tmp_path / "inventory.py").write_text(text)
    shutil.copytree(PROJECT_ROOT / "group_data", tmp_path / "group_data")
    return tmp_path


def _break(data_copy: Path, piece: str, old: str, new: str) -> None:
    path = data_copy / "group_data" / "hosts" / piece
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in the shipped {piece}"
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(("piece", "old", "new", "line"), MISTAKES)
def test_check_reports_a_python_mistake_in_one_line(
    data_copy: Path,
    capsys: pytest.CaptureFixture[str],
    piece: str,
    old: str,
    new: str,
    line: str,
) -> None:
    _break(data_copy, piece, old, new)
    assert main(["check", "--inventory", str(data_copy / "inventory.py")]) == 2
    err = capsys.readouterr().err
    problems = [p for p in err.splitlines() if p.startswith("  - ")]
    assert len(problems) == 1, err
    assert re.search(line, problems[0]), f"expected {line!r}, found {problems[0]!r}"
    assert "Traceback" not in err


def test_pyinfra_reports_both_mistakes_without_a_traceback(data_copy: Path) -> None:
    for piece, old, new, _line in MISTAKES[:2]:
        _break(data_copy, piece, old, new)
    result = forkrun.run(
        [str(data_copy / "inventory.py"), "debug-inventory"], data_copy, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    for _piece, _old, _new, line in MISTAKES[:2]:
        assert re.search(line, output), f"expected {line!r} in:\n{output}"
    assert "Connecting" not in output


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("x_ = x\n", r"inventory\.py:4: NameError: name 'x' is not defined$"),
        ("homelab = [(\n", r"inventory\.py:4: SyntaxError: "),
    ],
)
def test_check_reports_a_python_mistake_in_the_inventory_in_one_line(
    data_copy: Path, capsys: pytest.CaptureFixture[str], text: str, line: str
) -> None:
    inventory = data_copy / "inventory.py"
    hosts = [x.strip() for x in inventory.read_text().splitlines() if x.startswith("    (")]
    assert hosts, "no host entry in the inventory"
    # Lines 1-3: the group and its hosts; the mistake on line 4.
    inventory.write_text(f"homelab = [\n    {' '.join(hosts)}\n]\n{text}")
    assert main(["check", "--inventory", str(inventory)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert re.search(line, err.strip()), f"expected {line!r}, found {err!r}"
