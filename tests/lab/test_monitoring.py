"""Monitoring in the lab: every scrape target up; a daemon stopped, then another hung (SIGSTOP:
it accepts connections and never answers), each alert reaching a webhook receiver this test
runs on the lab's bridge address, and resolving once the daemon is back; and the board in
Chromium (Debian's, as ``test_browser.py`` drives it), showing every host's daemons, its
screenshot saved to ``docs/monitoring-board.png`` (shown in the README).

The lab's data fires an alert after 20 s (``for: 20s``; the real platform's is 2 minutes,
``monitoring.thresholds.down_for``), on a 5 s scrape and rule evaluation, with Alertmanager's
group_wait at 5 s. Each fault's time to its delivery is printed.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from homelab import PROJECT_ROOT
from homelab.lab.config import load_config
from homelab.lab.data import WEBHOOK_PORT
from homelab.load import load_platform
from homelab.model import Platform
from homelab.services.monitoring import BOARD, MONITORING, Watched, seconds
from tests.lab.conftest import LAB_INVENTORY, deploy, ssh
from tests.lab.test_browser import CHROMEDRIVER, CHROMIUM, FLAGS, _ensure_chromium

pytestmark = pytest.mark.lab

#: The issue's target for a fault's delivery.
DELIVERY_TARGET_S = 180
#: What the test stops, and what it hangs: daemons of the Prometheus host nothing else needs.
STOPPED = "searxng"
HUNG = "open-webui"


class Deliveries:
    """What Alertmanager POSTed to the receiver: (time received, one alert of the message)."""

    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def add(self, body: dict[str, Any]) -> None:
        now = time.monotonic()
        with self.lock:
            self.items += [(now, alert) for alert in body.get("alerts", [])]

    def first(
        self, after: float, status: str, match: Callable[[dict[str, Any]], bool]
    ) -> float | None:
        with self.lock:
            for at, alert in self.items:
                if at >= after and alert.get("status") == status and match(alert):
                    return at
        return None


@pytest.fixture(scope="module")
def deliveries() -> Iterator[Deliveries]:
    found = Deliveries()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            found.add(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((load_config().gateway, WEBHOOK_PORT), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def platform(lab: dict[str, Any], deliveries: Deliveries) -> Platform:
    deploy()
    return load_platform(LAB_INVENTORY)


@pytest.fixture(scope="module")
def prometheus_host(platform: Platform) -> str:
    (host,) = MONITORING.prometheus_hosts(platform)
    return host


def query(host: str, port: int, promql: str) -> list[dict[str, Any]]:
    done = ssh(
        host,
        f"curl -s --max-time 10 -G http://127.0.0.1:{port}/api/v1/query "
        f"--data-urlencode 'query={promql}'",
    )
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)["data"]["result"]
    return result


def failing(platform: Platform, host: str) -> list[str]:
    """The watched targets not up (or whose probe fails), by id."""
    port = MONITORING.options_on(platform, host).listener.port
    up = query(host, port, "up")
    probes = query(host, port, "probe_success")

    def value(series: list[dict[str, Any]], w: Watched) -> float | None:
        wanted = {"job": w.job, **dict(w.labels)}
        for s in series:
            if all(s["metric"].get(k) == v for k, v in wanted.items()):
                return float(s["value"][1])
        return None

    out = []
    for w in MONITORING.watched(platform):
        if w.prometheus != host:
            continue
        if value(up, w) != 1 or (w.probe and value(probes, w) != 1):
            out.append(w.id)
    return out


def test_every_scrape_target_is_up(platform: Platform, prometheus_host: str) -> None:
    opts = MONITORING.options_on(platform, prometheus_host)
    # The chat probes run once per chat_interval: give them one round and a timeout.
    deadline = time.monotonic() + seconds(opts.chat_interval) + seconds(opts.chat_timeout) + 30
    bad = failing(platform, prometheus_host)
    while bad and time.monotonic() < deadline:
        time.sleep(5)
        bad = failing(platform, prometheus_host)
    watched = [w for w in MONITORING.watched(platform) if w.prometheus == prometheus_host]
    print(f"\n{len(watched)} targets watched by Prometheus on {prometheus_host}")
    assert not bad, f"expected every target up and every probe succeeding, found failing: {bad}"


def _for(alert: dict[str, Any], host: str, daemon: str) -> bool:
    labels = alert.get("labels", {})
    return bool(labels.get("host") == host and labels.get("daemon") == daemon)


def _wait(
    deliveries: Deliveries, after: float, status: str, host: str, daemon: str, what: str
) -> float:
    deadline = after + DELIVERY_TARGET_S
    while time.monotonic() < deadline:
        at = deliveries.first(after, status, lambda a: _for(a, host, daemon))
        if at is not None:
            return at - after
        time.sleep(1)
    raise AssertionError(
        f"{host}/{daemon}: expected a {status} alert at the webhook within "
        f"{DELIVERY_TARGET_S} s of {what}, found none (received: {len(deliveries.items)} alerts)"
    )


def test_a_stopped_daemon_alerts_and_resolves(
    platform: Platform, prometheus_host: str, deliveries: Deliveries
) -> None:
    host = prometheus_host
    down_for = MONITORING.options_on(platform, host).thresholds.down_for
    unit = platform.daemon(host, STOPPED).unit
    start = time.monotonic()
    assert ssh(host, f"systemctl stop {unit}").returncode == 0
    try:
        fired = _wait(deliveries, start, "firing", host, STOPPED, f"stopping {unit}")
    finally:
        back = time.monotonic()
        assert ssh(host, f"systemctl start {unit}").returncode == 0
    resolved = _wait(deliveries, back, "resolved", host, STOPPED, f"starting {unit} again")
    print(
        f"\n{host}/{STOPPED} stopped: alert delivered after {fired:.0f} s (for: {down_for}); "
        f"resolved {resolved:.0f} s after it started again"
    )


def test_a_hung_daemon_alerts_and_resolves(
    platform: Platform, prometheus_host: str, deliveries: Deliveries
) -> None:
    host = prometheus_host
    opts = MONITORING.options_on(platform, host)
    unit = platform.daemon(host, HUNG).unit
    pid = ssh(host, f"systemctl show -p MainPID --value {unit}").stdout.strip()
    assert pid.isdigit() and pid != "0", f"{unit}: expected a main PID, found {pid!r}"
    start = time.monotonic()
    assert ssh(host, f"kill -STOP {pid}").returncode == 0
    try:
        fired = _wait(deliveries, start, "firing", host, HUNG, f"SIGSTOP to {unit}")
    finally:
        back = time.monotonic()
        assert ssh(host, f"kill -CONT {pid}").returncode == 0
    resolved = _wait(deliveries, back, "resolved", host, HUNG, f"SIGCONT to {unit}")
    print(
        f"\n{host}/{HUNG} hung (SIGSTOP): alert delivered after {fired:.0f} s "
        f"(for: {opts.thresholds.down_for}, probe timeout {opts.probe_timeout}); "
        f"resolved {resolved:.0f} s after SIGCONT"
    )


#: Where the test's SSH tunnel puts Prometheus's port (it listens on its host's loopback).
TUNNEL_PORT = 19090
BOARD_SCREENSHOT = PROJECT_ROOT / "docs" / "monitoring-board.png"


@pytest.fixture(scope="module")
def board_url(platform: Platform, prometheus_host: str) -> Iterator[str]:
    """The board through an SSH tunnel to Prometheus's host, as the operator views it."""
    config = load_config()
    port = MONITORING.options_on(platform, prometheus_host).listener.port
    tunnel = subprocess.Popen(
        [
            "ssh",
            "-F",
            str(config.ssh_config),
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"127.0.0.1:{TUNNEL_PORT}:127.0.0.1:{port}",
            prometheus_host,
        ]
    )
    try:
        url = f"http://127.0.0.1:{TUNNEL_PORT}/consoles/{BOARD}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)


def test_the_board_shows_every_hosts_daemons_in_chromium(
    platform: Platform, board_url: str
) -> None:
    _ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1600")
    with tempfile.TemporaryDirectory(prefix="homelab-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(board_url)
            rows = driver.find_elements(By.CSS_SELECTOR, "#daemons tr.daemon")
            shown = {
                (r.get_attribute("data-host"), r.get_attribute("data-daemon")): r.text for r in rows
            }
            driver.save_screenshot(str(BOARD_SCREENSHOT))
        finally:
            driver.quit()
    expected = {(h, d.name) for h in platform.hosts for d in platform.daemons(h) if d.enabled}
    missing = sorted(expected - set(shown))
    assert not missing, f"expected every host's daemons on the board, found missing: {missing}"
    # Each row carries its values: running and health read from Prometheus, not empty cells.
    blank = sorted(k for k, text in shown.items() if "up" not in text and "down" not in text)
    assert not blank, f"expected a state in each daemon's row, found none in: {blank}"
    print(f"\nboard: {len(shown)} daemons on {len(platform.hosts)} hosts; {BOARD_SCREENSHOT}")
