"""pytest plugin (named in pyproject's addopts): the whole fast suite on pytest-xdist workers, on a
machine of four CPUs or more.

Most of the fast suite's time is child processes (pyinfra runs on ``@fake`` hosts, the MCP
server over stdio) and each worker pays its own start, collection and pyinfra fork server (some
six seconds of CPU). With two CPUs that pays only while the second is idle: measured on a
2-core machine beside the lab's tests, two workers were slower than one process in every pair,
so there the suite stays in one process (``-n 2`` asks for workers anyway). Only the README's run
gets them: ``pytest`` with no paths, no ``-k`` and the default ``-m``. A run of one file, ``-m
lab`` (the lab tests hold one lab, in order), ``-m slow``, ``pytest verify`` (the hosts' checks)
and ``homelab up`` stay in one process, and so does a run given ``-n`` or ``--dist`` itself
(``-n 0``: no workers), ``--pdb`` or ``--trace``. Workers are one per CPU, at most four; each
takes whole files (``--dist loadfile``), so a module's fixtures are built once.
"""

from __future__ import annotations

import os

import pytest

#: The ``-m`` of pyproject's addopts: a run given another selects its own tests.
DEFAULT_MARKEXPR = "not lab and not slow"
MIN_CPUS = 4  # below, the workers' own start costs more than they save
MAX_WORKERS = 4


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS
        return os.cpu_count() or 1


def wants_workers(early_config: pytest.Config) -> bool:
    """Whether this run is the whole fast suite, run as the README says."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not early_config.pluginmanager.has_plugin("xdist"):
        return False
    known = early_config.known_args_namespace
    chosen = (
        getattr(known, "numprocesses", None) is not None
        or getattr(known, "dist", "no") != "no"
        or getattr(known, "tx", None)
    )
    debugging = getattr(known, "usepdb", False) or getattr(known, "trace", False)
    return (
        not chosen
        and not debugging
        and not known.file_or_dir
        and not getattr(known, "keyword", "")
        and getattr(known, "markexpr", "") == DEFAULT_MARKEXPR
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    # The documented way for a plugin to add options before pytest parses them for good.
    cpus = _cpus()
    workers = min(cpus, MAX_WORKERS)
    if cpus >= MIN_CPUS and wants_workers(early_config):
        args[:] = [*args, "-n", str(workers), "--dist", "loadfile"]
