"""pytest plugin (named in pyproject's addopts): with ``--file-times``, each test file's time.

A file's time is the sum of its tests' setup, call and teardown durations as pytest reports
them, printed at the end of the run, slowest first. Under pytest-xdist the workers' reports
reach the controller's ``pytest_runtest_logreport``, so the controller sums them all and prints;
a file's time is then the time its tests took on whichever workers ran them, not a share of the
run's wall-clock time.
"""

from __future__ import annotations

from collections import defaultdict

import pytest


class FileTimes:
    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid.split("::", 1)[0]] += report.duration

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.seconds:
            return
        terminalreporter.write_sep("=", "time per test file")
        for name, seconds in sorted(self.seconds.items(), key=lambda item: (-item[1], item[0])):
            terminalreporter.write_line(f"{name}: {seconds:.1f} s")
        terminalreporter.write_line(f"all files: {sum(self.seconds.values()):.1f} s")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("terminal reporting").addoption(
        "--file-times",
        action="store_true",
        help="print each test file's time (its tests' setup, call and teardown) at the end",
    )


def pytest_configure(config: pytest.Config) -> None:
    # An xdist worker's reports go to the controller, which prints the sums once.
    if config.getoption("file_times") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(FileTimes(), "filetimes")
