"""Each server's warm models were asked right after it started: the record of its last warm-up
is of the data's profile and models, and every model answered (its first-answer time is shown
in the check's line)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homelab import warm
from homelab.model import Platform
from homelab.model.service import Warmup


def _found(hosts: dict[str, Any], platform: Platform, warmup: Warmup) -> warm.Warmed:
    output = hosts[warmup.daemon.host].check_output(warm.command(platform, (warmup,)))
    return warm.read(output.splitlines()).get(warmup.daemon.name, warm.Warmed("", None))


def test_warm_up_ran_for_the_datas_profile(
    warmup: Warmup,
    hosts: dict[str, Any],
    platform: Platform,
    record_property: Callable[[str, object], None],
) -> None:
    record = _found(hosts, platform, warmup).record
    assert record is not None, f"{warmup.id}: expected a warm-up record at {warmup.record}, none"
    for handle, seconds in warm.first_answers(record).items():
        record_property(handle, f"{seconds:.2f}s")
    assert not warm.stale_profile(warmup, record), (
        f"{warmup.id}: expected a warm-up of {[h for h, _ in warmup.models]}, "
        f"found one of {record.get('profile')!r}: {sorted(record.get('models') or {})}"
    )


def test_every_warm_model_answered(
    warmup: Warmup, hosts: dict[str, Any], platform: Platform
) -> None:
    record = _found(hosts, platform, warmup).record or {}
    assert not warm.failed(record), (
        f"{warmup.id}: expected every model to answer its warm-up, found {warm.failed(record)}"
    )
