"""Pure arithmetic of the benchmarks: summaries of a load run (percentiles from ``statistics``),
targets, printed figures."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by ``statistics.quantiles``' inclusive method (numpy's default:
    linear between ranks); 0 and 100 are the smallest and the largest value."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100 or q != int(q):
        raise ValueError(f"percentile {q} is not a whole number from 0 to 100")
    if q == 0 or len(values) == 1:
        return min(values)
    if q == 100:
        return max(values)
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass(frozen=True)
class LoadResult:
    """One load run: each successful request's latency (s), the failures, the wall time (s)."""

    latencies: tuple[float, ...]
    errors: int
    wall: float

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies, 95) * 1000

    @property
    def rps(self) -> float:
        return self.ok / self.wall if self.wall > 0 else 0.0

    def describe(self) -> str:
        return (
            f"median {self.median_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, {self.rps:.0f} req/s "
            f"({self.ok} ok, {self.errors} failed)"
        )


def merge(results: Sequence[LoadResult]) -> LoadResult:
    """Several rounds of the same run as one: latencies pooled, walls added."""
    return LoadResult(
        latencies=tuple(x for r in results for x in r.latencies),
        errors=sum(r.errors for r in results),
        wall=sum(r.wall for r in results),
    )


Op = Literal["<", "<=", ">="]


@dataclass(frozen=True)
class Target:
    op: Op
    limit: float

    def met(self, value: float) -> bool:
        if self.op == "<":
            return value < self.limit
        if self.op == "<=":
            return value <= self.limit
        return value >= self.limit

    def __str__(self) -> str:
        return f"{self.op} {_number(self.limit)}"


@dataclass(frozen=True)
class Figure:
    """One printed figure: ``name: value unit (target OP LIMIT unit): met``."""

    name: str
    value: float
    unit: str
    target: Target | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)

    def line(self) -> str:
        text = f"{self.name}: {_number(self.value)} {self.unit}"
        if self.target is not None:
            verdict = "met" if self.met else "NOT MET"
            text += f" (target {self.target} {self.unit}): {verdict}"
        if self.note:
            text += f"  [{self.note}]"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "value": round(self.value, 3),
            "unit": self.unit,
            "target": str(self.target) if self.target else None,
            "met": self.met,
            "note": self.note,
        }


def _number(value: float) -> str:
    """Three significant digits at most, no trailing zeros: 9.83, 45.2, 530, 0.5."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, 2 - magnitude)
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def shares(phases: Sequence[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """(phase, seconds, percent of the total) for each phase."""
    total = sum(seconds for _, seconds in phases)
    return [
        (name, seconds, 100 * seconds / total if total > 0 else 0.0) for name, seconds in phases
    ]
