"""The pure logic of the benchmarks and of the gateway's tuning (no host contacted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench.converge import (
    changed_operations,
    commands_sent,
    deploy_phases,
    operation_count,
    operation_times,
    phase_of,
    run_phases,
)
from bench.stats import Figure, LoadResult, Target, merge, percentile, shares
from homelab.dossier import detour_cost
from homelab.model import Platform
from homelab.services import Daemon, daemon_named
from homelab.services.litellm import (
    MAX_DERIVED_WORKERS,
    LiteLLM,
    environment,
    router_yaml,
    workers_for,
)


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(list(map(float, range(1, 101))), 95) == pytest.approx(95.05)
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], 99.5)  # statistics.quantiles cuts whole percents
    assert percentile([10.0, 20.0], 95) == pytest.approx(19.5)
    assert percentile([7.0], 95) == 7.0


def test_load_result_summary_and_merge() -> None:
    a = LoadResult(latencies=(0.010, 0.020, 0.030), errors=1, wall=0.5)
    assert a.ok == 3
    assert a.median_ms == pytest.approx(20.0)
    assert a.rps == pytest.approx(6.0)
    both = merge([a, LoadResult(latencies=(0.040,), errors=0, wall=0.5)])
    assert both.ok == 4 and both.errors == 1 and both.wall == pytest.approx(1.0)
    assert both.median_ms == pytest.approx(25.0)


def test_targets_and_figure_lines() -> None:
    assert Target("<=", 10).met(10) and not Target("<", 10).met(10)
    assert Target(">=", 2).met(2.1) and not Target(">=", 2).met(1.9)
    line = Figure("noop_converge_wall", 8.432, "s", Target("<=", 10)).line()
    assert line == "noop_converge_wall: 8.43 s (target <= 10 s): met"
    missed = Figure("gateway_c16_throughput_vs_default", 1.55, "x", Target(">=", 2))
    assert missed.met is False and missed.line().endswith("NOT MET")
    assert Figure("rps", 531.0, "req/s").line() == "rps: 531 req/s"
    assert Figure("rps", 531.0, "req/s").met is None


def test_phase_shares_add_up() -> None:
    out = shares([("host up", 30.0), ("packages", 60.0), ("verify", 10.0)])
    assert [round(p) for _, _, p in out] == [30, 60, 10]
    assert shares([("nothing", 0.0)]) == [("nothing", 0.0, 0.0)]


PYINFRA_OUTPUT = [
    (0.5, "--> Beginning operation run..."),
    (1.0, "--> Starting operation: The Mini | LiteLLM gateway | Install litellm.txt into /x "),
    (31.0, "    [mini]   Success"),
    (41.0, "--> Starting operation: The Mini | LiteLLM gateway | Place /etc/x/router.yaml "),
    (41.5, "--> Starting operation: The Mini | LiteLLM gateway | Wait for litellm to answer /h"),
    (49.5, "    Grand total      3     2     -     1"),
    (49.6, "--> Disconnecting from hosts..."),
]


def test_operation_times_and_phases() -> None:
    ops = operation_times(PYINFRA_OUTPUT)
    assert [round(s, 1) for _, s in ops] == [40.0, 0.5, 8.0]
    phases = deploy_phases(PYINFRA_OUTPUT, wall=50.0)
    assert phases["packages"] == pytest.approx(40.0)
    assert phases["configure"] == pytest.approx(0.5)
    assert phases["services starting"] == pytest.approx(8.0)
    assert phases["connect and plan"] == pytest.approx(1.5)
    assert phase_of("The Studio | MLX servers | Restart mlx-8100.service (its files changed)") == (
        "services starting"
    )
    assert phase_of("The Mini | SearXNG | Debian package searx") == "packages"
    assert phase_of("The Mini | Open WebUI | User open-webui") == "configure"


def test_changed_operations_reads_the_grand_total() -> None:
    text = "\n".join(line for _, line in PYINFRA_OUTPUT)
    assert changed_operations(text) == 2
    assert changed_operations("    Grand total    108    -    -    108") == 0
    with pytest.raises(ValueError):
        changed_operations("no table")


def test_workers_follow_the_cores() -> None:
    assert workers_for(None) == 1  # LiteLLM's own default when the cores are unknown
    assert workers_for(2) == 2
    assert workers_for(64) == MAX_DERIVED_WORKERS
    assert LiteLLM(host_cores=4).worker_count == 4
    assert LiteLLM(host_cores=4, workers=1).worker_count == 1  # an explicit count wins


def with_gateway(platform: Platform, litellm: LiteLLM) -> Platform:
    """The platform with ``litellm`` as the Mini's gateway options."""
    mini = platform.host("mini")
    changed = mini.model_copy(update={"services": {**mini.services, LiteLLM.key: litellm}})
    return platform.model_copy(update={"hosts": {**platform.hosts, "mini": changed}})


def test_gunicorn_runs_the_workers_and_takes_systemds_socket(platform: Platform) -> None:
    def gateway(litellm: LiteLLM) -> Daemon:
        return daemon_named(with_gateway(platform, litellm), "mini", "litellm")

    for workers in (1, 2):
        forked = gateway(LiteLLM(workers=workers))
        assert "--run_gunicorn" in forked.argv, f"{workers} worker(s): not under gunicorn"
        assert forked.socket_activated and forked.reloadable, workers
    bound = gateway(LiteLLM(workers=2, server="uvicorn"))
    assert "--run_gunicorn" not in bound.argv
    assert not bound.socket_activated, "uvicorn cannot take a passed socket from the CLI"
    assert not bound.reloadable


def test_tuning_reaches_the_unit_and_the_config(platform: Platform) -> None:
    tuned = with_gateway(platform, LiteLLM(host_cores=3, log_level="ERROR"))
    daemon = daemon_named(tuned, "mini", "litellm")
    assert daemon.argv[daemon.argv.index("--num_workers") + 1] == "3"
    assert daemon.environment["LITELLM_LOG"] == "ERROR"
    general = yaml.safe_load(router_yaml(tuned))["general_settings"]
    assert general["disable_spend_logs"] is True
    assert general["disable_budget_reservation"] is True
    assert environment(tuned)["LITELLM_DISABLE_LATEST_RELEASE_CHECK"] == "true"

    plain = with_gateway(platform, LiteLLM(lean=False))
    assert set(yaml.safe_load(router_yaml(plain))["general_settings"]) == {"master_key"}
    assert "LITELLM_DISABLE_LATEST_RELEASE_CHECK" not in environment(plain)
    unset = with_gateway(platform, LiteLLM(log_level=None))
    assert "LITELLM_LOG" not in daemon_named(unset, "mini", "litellm").environment


def test_detour_cost_read_from_the_figures(tmp_path: Path) -> None:
    figures = tmp_path / "performance.json"
    values = {
        "optillm_detour_c1_added_median": 41.5,
        "optillm_c1_on_median": 60.0,
        "optillm_c1_off_median": 18.5,
        "optillm_detour_c16_rps_ratio": 0.4,
    }
    figures.write_text(
        json.dumps(
            {
                "measured": "2026-11-24 18:00 UTC",
                "machine": "2 cores",
                "figures": [{"name": k, "value": v} for k, v in values.items()],
            }
        )
    )
    cost = detour_cost(figures)
    assert cost is not None
    assert cost.added_median_ms == 41.5 and cost.measured == "2026-11-24 18:00 UTC"
    assert detour_cost(tmp_path / "missing.json") is None
    figures.write_text("{}")
    assert detour_cost(figures) is None


NOOP_OUTPUT = [
    (0.9, "--> Loading config..."),
    (1.0, "--> Loading inventory..."),
    (1.6, "--> Connecting to hosts..."),
    (2.0, "--> Preparing operation files..."),
    (2.2, "    [mini] >>> sh -c 'snapshot'"),
    (2.3, "    [studio] >>> sh -c 'snapshot'"),
    (3.0, "--> Beginning operation run..."),
    (3.1, "    [mini] >>> systemctl daemon-reload"),
    (3.5, "--> Results:"),
    (3.6, "    Grand total      35     -     -     35"),
    (3.7, "--> Disconnecting from hosts..."),
]


def test_a_runs_phases_add_up_to_its_wall_time() -> None:
    phases = dict(run_phases(NOOP_OUTPUT, wall=4.0))
    assert phases["interpreter and imports"] == pytest.approx(0.9)
    assert phases["inventory and group data"] == pytest.approx(0.6)
    assert phases["plan (deploy code, facts)"] == pytest.approx(1.0)
    assert phases["operations"] == pytest.approx(0.5)
    assert phases["disconnect and exit"] == pytest.approx(0.3)
    assert sum(phases.values()) == pytest.approx(4.0)


def test_commands_sent_are_counted_per_host() -> None:
    assert commands_sent(NOOP_OUTPUT) == {"mini": 2, "studio": 1}
    assert operation_count("\n".join(line for _, line in NOOP_OUTPUT)) == 35
