"""Shared fixtures: the real platform, loaded the way pyinfra loads it (no host contacted)."""

from __future__ import annotations

import pytest

from homelab.load import load_platform
from homelab.model import Platform


@pytest.fixture(scope="session")
def platform() -> Platform:
    return load_platform()
