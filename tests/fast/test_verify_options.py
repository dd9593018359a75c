"""The verify suite's command line: JUnit XML only on request, testinfra's host options refused.

Each runs ``pytest verify --collect-only`` on the real inventory: collecting loads the model and
parametrises the checks, and contacts no host.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT

# Each test is a whole pytest run, as the operator starts it: seconds of imports and collection.
pytestmark = pytest.mark.slow


def collect(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "verify"), "--collect-only"]
    return subprocess.run(
        [*command, "-q", "-p", "no:cacheprovider", *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_no_junit_xml_unless_asked(tmp_path: Path) -> None:
    run = collect(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "tests collected" in run.stdout
    assert list(tmp_path.iterdir()) == []


def test_junit_xml_where_asked(tmp_path: Path) -> None:
    report = tmp_path / "reports" / "verify.xml"
    run = collect(tmp_path, f"--junitxml={report}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert ET.parse(report).getroot().tag in ("testsuites", "testsuite")
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_testinfra_hosts_option_is_refused_in_one_line(tmp_path: Path) -> None:
    run = collect(tmp_path, "--hosts", "ssh://verify.invalid")
    assert run.returncode == 4, run.stdout + run.stderr  # pytest's usage error
    said = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert len(said) == 1, said
    assert "--hosts" in said[0] and "--inventory" in said[0]
    assert "collected" not in run.stdout
