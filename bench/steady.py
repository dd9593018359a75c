"""A steady client of the gateway: one chat request after another, each outcome recorded.

Lab tests run it in a thread while they change the platform, then read what it saw: how many
requests failed, and the latencies of those that did not (median and p99 from ``statistics``).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    started: float
    seconds: float
    status: int | None  # None: no HTTP answer at all (refused, reset, timed out)
    error: str = ""


@dataclass
class SteadyClient:
    """Chat requests to ``handle`` through the gateway at ``url``, until stopped."""

    url: str
    key: str
    handle: str
    timeout: float = 60.0
    pause: float = 0.05
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        body = {
            "model": self.handle,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 4,
        }
        headers = {"Authorization": f"Bearer {self.key}"}
        # A new connection each time, as many clients do: nothing rides on a kept-alive socket.
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                response = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout)
                outcome = Outcome(start, time.monotonic() - start, response.status_code)
                if response.status_code != 200:
                    outcome.error = response.text[:200]
            except httpx.HTTPError as error:
                outcome = Outcome(start, time.monotonic() - start, None, repr(error)[:200])
            self.outcomes.append(outcome)
            time.sleep(self.pause)

    def __enter__(self) -> SteadyClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200]

    def latencies(self) -> list[float]:
        return [o.seconds for o in self.outcomes if o.status == 200]

    def summary(self) -> str:
        ok = self.latencies()
        if len(ok) < 2:
            return f"{len(self.outcomes)} requests, {len(self.failed)} failed"
        p99 = statistics.quantiles(ok, n=100, method="inclusive")[98]
        return (
            f"{len(self.outcomes)} requests, {len(self.failed)} failed, "
            f"median {statistics.median(ok) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {max(ok) * 1000:.0f} ms"
        )
