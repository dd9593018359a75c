"""The day after: the lab taken down, then the README's ``homelab up``: green at its first
verify, every host having just booted (services starting on two shared cores)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from bench.boot import boot_to_green

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]


def test_lab_down_then_homelab_up_is_green_at_the_first_verify(lab: dict[str, Any]) -> None:
    boot = boot_to_green()
    print(f"\nboot to green: {boot.summary()}")
    failed = [s for s in boot.steps if s.code != 0]
    assert not failed, (
        f"expected every step of homelab up to pass at once; {failed[0].what} exited "
        f"{failed[0].code}:\n{failed[0].tail}"
    )
