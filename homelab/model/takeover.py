"""What a host ran before this platform: the hand-built units and jobs it takes over.

A first deploy onto a hand-built host stops and disables each legacy unit (on launchd: boots
the job out and disables it) before the daemon that replaces it starts on the port it held; it
never deletes their files, so the way back is to enable them again. A legacy systemd unit
either has a name of its own (stopped and disabled, its file left where it is) or the very
name of the unit that replaces it (``same_name``): then its file is saved aside once, as
``<unit file>.legacy``, before the platform's unit takes its path.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from homelab.model.base import AbsPath, Bool, Frozen, Name

#: A systemd service unit's name: no path, ends in ``.service``.
UnitName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9@_.:-]*\.service$", max_length=255)]
#: A launchd job's label (reverse-DNS by convention).
Label = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=255)]

#: The suffix a same-name legacy unit's file is saved aside with.
SAVED_SUFFIX = ".legacy"


class LegacyUnit(Frozen):
    """A systemd unit of the hand-built setup."""

    unit: UnitName
    replaced_by: tuple[Name, ...] = Field(
        min_length=1, description="the platform's daemons that take over the ports it held"
    )
    same_name: Bool = Field(
        default=False,
        description="the platform renders a unit of this very name: its file is saved aside "
        "once, then replaced",
    )
    user: Name | None = Field(default=None, description="the account it ran as")


class LegacyJob(Frozen):
    """A launchd job of the hand-built setup (macOS hosts)."""

    label: Label
    plist: AbsPath
    replaced_by: tuple[Name, ...] = Field(
        min_length=1, description="the platform's daemons that take over the ports it served"
    )
    user: Name | None = None


class Takeover(Frozen):
    """Everything of the hand-built setup on one host that this platform replaces."""

    units: tuple[LegacyUnit, ...] = ()
    launchd_jobs: tuple[LegacyJob, ...] = ()
    open_webui_data: AbsPath | None = Field(
        default=None,
        description="the legacy Open WebUI data directory (webui.db, uploads): imported once "
        "into the platform's when that has no database yet",
    )

    @property
    def empty(self) -> bool:
        return not (self.units or self.launchd_jobs or self.open_webui_data)

    def replaced(self) -> list[tuple[str, tuple[str, ...]]]:
        """(legacy unit or job, the daemons replacing it), units first."""
        out = [(u.unit, u.replaced_by) for u in self.units]
        return out + [(j.label, j.replaced_by) for j in self.launchd_jobs]
