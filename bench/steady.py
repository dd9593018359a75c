"""A steady client of the gateway: one chat request after another, each outcome recorded.

Lab tests run it in a thread while they change the platform, then read what it saw: how many
requests failed, and the latencies of those that did not (median and p99 from ``statistics``),
over the whole run or over one window of it (one step of a longer story).

A client given ``rekey`` does what a LAN client of a rotated gateway does: when its key is
refused it reads the key again (from where the operator keeps it) and goes on.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    started: float
    seconds: float
    status: int | None  # None: no HTTP answer at all (refused, reset, timed out)
    error: str = ""
    #: The deployment that answered: the upstream base the gateway names in its answer.
    served: str = ""


#: The header in which LiteLLM names the deployment that answered (its api_base).
SERVED_BY = "x-litellm-model-api-base"

#: What LiteLLM answers a key it does not know (400 "No connected db." without a database).
REFUSED = frozenset({400, 401, 403})


@dataclass(frozen=True)
class Window:
    """What the client saw between two moments: requests, failures by kind, latencies."""

    outcomes: tuple[Outcome, ...]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200]

    @property
    def refused(self) -> list[Outcome]:
        """Requests whose connection was refused: nothing listened."""
        return [o for o in self.failed if "Connection refused" in o.error]

    def latencies(self) -> list[float]:
        return [o.seconds for o in self.outcomes if o.status == 200]

    def p99(self) -> float | None:
        ok = self.latencies()
        if len(ok) < 2:
            return None
        return statistics.quantiles(ok, n=100, method="inclusive")[98]

    def served(self) -> dict[str, int]:
        """Answered requests by the deployment that served them."""
        counted: dict[str, int] = {}
        for o in self.outcomes:
            if o.status == 200:
                counted[o.served] = counted.get(o.served, 0) + 1
        return counted

    def kinds(self) -> dict[str, int]:
        """Failures by kind: the HTTP status, or the error's class when none came."""
        counted: dict[str, int] = {}
        for o in self.failed:
            kind = str(o.status) if o.status is not None else o.error.split("(", 1)[0]
            counted[kind] = counted.get(kind, 0) + 1
        return counted

    def summary(self) -> str:
        ok = self.latencies()
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.kinds().items()))
        failed = f"{len(self.failed)} failed" + (f" ({kinds})" if kinds else "")
        p99 = self.p99()
        if p99 is None:
            return f"{len(self.outcomes)} requests, {failed}"
        return (
            f"{len(self.outcomes)} requests, {failed}, "
            f"median {statistics.median(ok) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {max(ok) * 1000:.0f} ms"
        )


@dataclass
class SteadyClient:
    """Chat requests to ``handle`` through the gateway at ``url``, until stopped."""

    url: str
    key: str
    handle: str
    timeout: float = 60.0
    pause: float = 0.05
    #: Where to read the key again when the gateway refuses it (None: never).
    rekey: Callable[[], str] | None = None
    rekeyed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def send(self, body: dict[str, object], headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url, json=body, headers=headers, timeout=self.timeout)

    def _run(self) -> None:
        body: dict[str, object] = {
            "model": self.handle,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 4,
        }
        # A new connection each time, as many clients do: nothing rides on a kept-alive socket.
        while not self._stop.is_set():
            start = time.monotonic()
            headers = {"Authorization": f"Bearer {self.key}"}
            try:
                response = self.send(body, headers)
                outcome = Outcome(
                    start,
                    time.monotonic() - start,
                    response.status_code,
                    served=response.headers.get(SERVED_BY, ""),
                )
                if response.status_code != 200:
                    outcome.error = response.text[:200]
            except httpx.HTTPError as error:
                outcome = Outcome(start, time.monotonic() - start, None, repr(error)[:200])
            self.outcomes.append(outcome)
            if self.rekey is not None and outcome.status in REFUSED:
                try:
                    self.key = self.rekey()
                    self.rekeyed += 1
                except (
                    Exception
                ) as error:  # the host may be away (a rebuild): try at the next refusal
                    outcome.error += f"; key not read again: {error!r}"[:200]
            time.sleep(self.pause)

    def __enter__(self) -> SteadyClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)

    def window(self, start: float = 0.0, end: float = float("inf")) -> Window:
        """The outcomes of the requests sent between ``start`` and ``end`` (monotonic)."""
        return Window(tuple(o for o in list(self.outcomes) if start <= o.started < end))

    @property
    def failed(self) -> list[Outcome]:
        return self.window().failed

    def latencies(self) -> list[float]:
        return self.window().latencies()

    def summary(self) -> str:
        return self.window().summary()


@dataclass
class SteadyReader(SteadyClient):
    """GET ``url`` (a health page) one request after another, until stopped."""

    key: str = ""
    handle: str = ""

    def send(self, body: dict[str, object], headers: dict[str, str]) -> httpx.Response:
        return httpx.get(self.url, timeout=self.timeout)
