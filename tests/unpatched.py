"""pytest plugin (named in pyproject's addopts): gevent does not patch the standard library in
test processes.

``homelab.load`` imports pyinfra's CLI package to read inventories the way pyinfra does, and
that import runs ``gevent.monkey.patch_all()``. In a pytest-xdist worker it comes after
execnet's I/O thread has started: the worker's main thread then waits on a gevent ``Event``
that the real I/O thread cannot wake, and gevent gives up with ``LoopExit: This operation
would block forever``, which ends ``pytest -n 2``. No test needs the patch: in a test process
pyinfra only loads inventories; deploys run as ``pyinfra`` subprocesses, which patch as usual.
gevent lets a subscriber veto the patch (``DoNotPatch``), for every pytest run alike.
"""

from __future__ import annotations

from gevent import events


def refuse_patch_all(event: object) -> None:
    if isinstance(event, events.GeventWillPatchAllEvent):
        raise events.DoNotPatch("pytest: the standard library stays unpatched")


if refuse_patch_all not in events.subscribers:
    events.subscribers.append(refuse_patch_all)
