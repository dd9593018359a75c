"""Loops over what differs between hosts (daemons, models, units), as pyinfra orders them.

pyinfra names an operation by the lines of its call stack and merges the same one across
hosts into one order. In a loop, the same lines run once per item: two hosts looping over
different daemons (the Studio's three MLX servers, the second Mac's one) would give the same
operation different neighbours on each, a cycle pyinfra refuses. ``host.loop`` adds the
item's place to the name, so each iteration is an operation of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from pyinfra.context import host

T = TypeVar("T")


def each(items: Iterable[T]) -> Iterator[T]:
    """``items``, each iteration's operations named apart (pyinfra's ``host.loop``)."""
    yield from host.loop(items)  # type: ignore[no-untyped-call]
