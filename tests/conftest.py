"""Shared fixtures: the real platform, loaded the way pyinfra loads it (no host contacted)."""

from __future__ import annotations

import pytest

from homelab.load import load_platform
from homelab.model import Platform


@pytest.fixture(scope="session")
def platform() -> Platform:
    return load_platform()


@pytest.fixture(scope="session")
def lab_platform() -> Platform:
    """The lab's platform (its inventory is never contacted by a fast test)."""
    from homelab import PROJECT_ROOT

    return load_platform(PROJECT_ROOT / "lab" / "inventory.py")
