"""Warm-ups: the data's profiles and warm models, what each host's deploy asks, when it asks
again, and the script that asks (against a real HTTP server on loopback)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from deploys.warmups import SCRIPT, plan
from homelab import warm
from homelab.model import Platform
from homelab.model.service import Warmup
from homelab.model.system import LAUNCHD, SYSTEMD
from homelab.services.mlx import MLX_SERVED_MODEL


def test_the_active_profile_is_warmed_on_the_mini(platform: Platform) -> None:
    (ov,) = [w for w in platform.warmups("mini") if w.daemon.name == "ov-server"]
    assert ov.profile == "ov-only-fast"
    assert [h for h, _ in ov.models] == [
        "ov-qwen2-5-1-5b-instruct-fp16",
        "ov-phi-4-mini-instruct-fp16",
    ]


def test_a_model_marked_warm_is_warmed_on_its_server_by_its_served_name(
    lab_platform: Platform,
) -> None:
    (w,) = lab_platform.warmups("studio")
    assert (w.daemon.name, w.profile) == ("mlx-8101", "warm")
    assert w.models == (("mlx-tiny-llama-b", MLX_SERVED_MODEL),)


def test_a_host_without_warm_models_warms_nothing(lab_platform: Platform) -> None:
    assert lab_platform.warmups("mac2") == ()


@pytest.mark.parametrize(
    ("profiles", "active", "expected"),
    [
        (
            {"fast": ("ov-qwen2-5-3b-instruct-fp16", "ov-c-fp16")},
            "fast",
            "mini.ov_server.profiles.fast: 'ov-c-fp16' is not one of the server's models "
            "(rule: a profile names models the server serves)",
        ),
        (
            {"fast": ("ov-qwen2-5-3b-instruct-fp16",)},
            "slow",
            "mini.ov_server.active_profile: 'slow' is not a profile (profiles: fast) "
            "(rule: the active profile is one of the server's profiles)",
        ),
        (
            {"fast": ()},
            None,
            "mini.ov_server.profiles.fast: empty (rule: a profile names at least one model)",
        ),
    ],
    ids=["unknown-model", "unknown-active", "empty"],
)
def test_a_profile_names_the_servers_models_and_the_active_one_exists(
    platform: Platform, profiles: dict[str, tuple[str, ...]], active: str | None, expected: str
) -> None:
    mini = platform.hosts["mini"]
    ov = {**mini.services["ov_server"].model_dump(), "profiles": profiles}
    ov["active_profile"] = active
    with pytest.raises(ValidationError) as excinfo:
        platform.evolve(hosts={**platform.hosts, "mini": mini.evolve(ov_server=ov)})
    assert expected in str(excinfo.value), f"expected {expected!r}, found:\n{excinfo.value}"


def test_the_instance_is_the_init_systems_own_name_for_a_start() -> None:
    assert SYSTEMD.instance_command("ov-server.service") == (
        "systemctl show -p InvocationID --value -- ov-server.service"
    )
    assert "launchctl print system/com.homelab-llm.mlx-8100" in LAUNCHD.instance_command(
        "com.homelab-llm.mlx-8100"
    )


def _warmup(platform: Platform) -> Warmup:
    (w,) = [w for w in platform.warmups("mini") if w.daemon.name == "ov-server"]
    return w


def _record(w: Warmup, instance: str = "abc", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "profile": w.profile,
        "instance": instance,
        "at": "2026-12-05T10:00:00+0000",
        "models": {h: {"upstream": u, "seconds": 0.25, "error": None} for h, u in w.models},
    }
    return {**record, **changes}


def test_the_hosts_answer_is_read_per_daemon(platform: Platform) -> None:
    w = _warmup(platform)
    lines = ["~~warm ov-server", "abc", json.dumps(_record(w)), "~~warm mlx-8100", "", ""]
    found = warm.read(lines)
    assert found["ov-server"].instance == "abc"
    assert found["mlx-8100"] == warm.Warmed("", None)


def test_a_warm_up_stands_for_the_same_start_and_profile(platform: Platform) -> None:
    w = _warmup(platform)
    assert warm.why_warm(w, warm.Warmed("abc", _record(w))) is None


@pytest.mark.parametrize(
    ("instance", "changes", "why"),
    [
        ("abc", None, "never warmed"),
        ("def", {}, "started since its last warm-up"),
        ("", {}, "started since its last warm-up"),
        ("abc", {"profile": "ov-only-safe"}, "it warms ov-only-fast now"),
        ("abc", {"models": {}}, "it warms ov-only-fast now"),
    ],
)
def test_a_warm_up_is_asked_again_when_it_no_longer_stands(
    platform: Platform, instance: str, changes: dict[str, Any] | None, why: str
) -> None:
    w = _warmup(platform)
    record = None if changes is None else _record(w, **changes)
    assert warm.why_warm(w, warm.Warmed(instance, record)) == why


def test_a_failed_warm_up_is_asked_again_and_status_names_it(platform: Platform) -> None:
    w = _warmup(platform)
    record = _record(w)
    first = w.models[0][0]
    record["models"][first] = {"upstream": first, "seconds": 3.0, "error": "HTTP 500: boom"}
    found = warm.Warmed("abc", record)
    assert warm.why_warm(w, found) == "its last warm-up failed"
    assert f"failed: {first}: HTTP 500: boom" in warm.describe(w, found)


def test_status_says_when_the_server_started_again_since(platform: Platform) -> None:
    w = _warmup(platform)
    line = warm.describe(w, warm.Warmed("other", _record(w)))
    assert "ov-qwen2-5-1-5b-instruct-fp16 0.25 s" in line
    assert line.endswith("cold until the next deploy")


class _Server(BaseHTTPRequestHandler):
    """A model server: /health, and a chat that fails for the model named ``broken``."""

    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.asked.append(body["model"])
        ok = body["model"] != "broken"
        self.send_response(200 if ok else 500)
        self.end_headers()
        answer = {"choices": [{"message": {"content": "x"}}]} if ok else {"error": "no"}
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def model_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Server.asked = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _run(base: str, record: Path, models: list[list[str]]) -> subprocess.CompletedProcess[str]:
    job = {
        "url": base,
        "health": f"{base}/health",
        "models": models,
        "profile": "fast",
        "record": str(record),
        "instance": "echo inv-1",
        "wait_s": 5,
        "timeout_s": 5,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), json.dumps(job)], capture_output=True, text=True, check=False
    )


def test_the_script_asks_each_model_and_records_its_first_answer(
    model_server: str, tmp_path: Path
) -> None:
    record = tmp_path / "warm-up.json"
    done = _run(model_server, record, [["ov-a-fp16", "ov-a-fp16"], ["mlx-b", "default_model"]])
    assert done.returncode == 0, done.stdout + done.stderr
    assert _Server.asked == ["ov-a-fp16", "default_model"]
    written = json.loads(record.read_text())
    assert (written["profile"], written["instance"]) == ("fast", "inv-1")
    assert sorted(warm.first_answers(written)) == ["mlx-b", "ov-a-fp16"]


def test_the_script_fails_naming_a_model_that_did_not_answer(
    model_server: str, tmp_path: Path
) -> None:
    record = tmp_path / "warm-up.json"
    done = _run(model_server, record, [["ov-a-fp16", "ov-a-fp16"], ["ov-x-fp16", "broken"]])
    assert done.returncode == 1
    assert "ov-x-fp16 (fast) did not warm up: HTTP 500" in done.stdout
    assert warm.failed(json.loads(record.read_text())) == ['ov-x-fp16: HTTP 500: {"error": "no"}']


def test_the_deploys_plan_asks_the_server_where_its_health_check_does(
    platform: Platform,
) -> None:
    w = _warmup(platform)
    job = plan(platform, w)
    assert job["health"] == w.daemon.health_url
    assert job["url"] == f"http://127.0.0.1:{w.daemon.listener.port}"
    assert job["record"] == f"{w.daemon.state_dir}/warm-up.json"
