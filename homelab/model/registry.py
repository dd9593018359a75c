"""The registered services: what a host's data may place, by key, in deploy order.

``homelab/services`` registers every service module on import; the model reads them here
without importing them (a module's type is the platform's ``ServiceModule``).
"""

from __future__ import annotations

from typing import Any

from homelab.model.base import Frozen

_REGISTERED: list[Any] = []


def register(*modules: Any) -> None:
    """Make services known to the model: their options become fields a host's data may set."""
    for module in modules:
        if all(m.name != module.name for m in _REGISTERED):
            _REGISTERED.append(module)


def registered() -> tuple[Any, ...]:
    """Every registered service module, in deploy order."""
    if not _REGISTERED:
        raise RuntimeError("no service is registered: import homelab.services first")
    return tuple(_REGISTERED)


def options_by_key() -> dict[str, type[Frozen]]:
    return {m.key: m.options for m in registered()}
