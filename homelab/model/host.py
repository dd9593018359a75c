"""A host: its system, where it keeps the platform's files, and the services its data places.

Which services a host runs is its data: each registered service's options may be given under
its key (``litellm=dict(...)``, ``mlx=dict(...)``), and the host runs exactly those. A host
joins the platform by an inventory entry and one data file; nothing in the code names it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import Field, SerializeAsAny, ValidationError, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from homelab.model.base import AbsPath, Bool, Frozen, Name, Port
from homelab.model.common import Layout, Toolchain
from homelab.model.registry import options_by_key
from homelab.model.system import SYSTEMS, System, SystemName
from homelab.model.takeover import Takeover

Opts = TypeVar("Opts", bound=Frozen)


def _nested(key: str, item: ErrorDetails) -> InitErrorDetails:
    """One error of a service's options, its path under the service's key."""
    detail: InitErrorDetails = {
        "type": item["type"],
        "loc": (key, *item["loc"]),
        "input": item.get("input"),
    }
    if "ctx" in item:
        detail["ctx"] = item["ctx"]
    try:
        ValidationError.from_exception_data("check", [detail])
    except KeyError:  # a type pydantic-core does not know by name (a validator's own)
        detail["type"] = PydanticCustomError(item["type"], item["msg"])
        detail.pop("ctx", None)
    except ValidationError:
        pass
    return detail


class StorageRoot(Frozen):
    """A place model files live. Showroom storage is on a host; backroom storage gets no handle."""

    name: Name
    path: AbsPath
    showroom: Bool


class Host(Frozen):
    """One machine of the platform, by the inventory's name."""

    system: SystemName = Field(default="linux", description="linux (systemd) or macos (launchd)")
    stand_in_for: SystemName | None = Field(
        default=None,
        description="the system this host stands in for (the lab's Linux hosts standing in "
        "for Macs): services of that system run here on their builds for this one",
    )
    layout: Layout = Layout()
    toolchain: Toolchain = Field(
        default=None,  # type: ignore[assignment]  # the system's own, filled before validation
        description="how it builds virtualenvs; unset: its system's default",
    )
    run_as: Name | None = Field(
        default=None, description="the account its model servers run as (its operator's)"
    )
    hf_home: AbsPath | None = Field(
        default=None, description="its Hugging Face home: the hub cache model servers read"
    )
    maintenance: str | None = Field(
        default=None,
        min_length=1,
        description="why the host is out of the gateway's rotation (None: in it): its "
        "deployments leave the router, which sends their requests to the other replicas; its "
        "services keep running and deploys go on, until the data lifts it",
    )
    #: The hand-built setup this host ran before: what the first deploy takes over.
    takeover: Takeover = Takeover()
    base_ports: dict[Port, str] = Field(
        default_factory=dict,
        description="ports the host's own system listens on besides sshd (the inventory's ssh "
        "port), each with what serves it: the verify suite counts any other port a leftover",
    )
    #: The services its data places, by key, each validated by its own options.
    services: dict[str, SerializeAsAny[Frozen]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _place(cls, data: Any) -> Any:
        """Take each service's options out of the data by its key and validate them there, so
        a problem's path is ``host.<key>.<field>``."""
        if not isinstance(data, dict):
            return data
        known = options_by_key()
        data = dict(data)
        # A dumped host (``model_dump``) gives them under ``services``; group data at the top.
        given_services = dict(data.pop("services", None) or {})
        given_services |= {k: data.pop(k) for k in [k for k in data if k in known]}
        services: dict[str, Any] = {}
        errors: list[InitErrorDetails] = []
        for key, given in given_services.items():
            if key not in known:
                errors.append({"type": "extra_forbidden", "loc": (key,), "input": given})
                continue
            derive = getattr(known[key], "derive", None)  # fields derived from the host's
            if derive is not None and isinstance(given, dict):
                given = derive(given, data)
            try:
                services[key] = known[key].model_validate(given)
            except ValidationError as error:
                errors += [_nested(key, item) for item in error.errors()]
        if errors:
            raise ValidationError.from_exception_data("Host", errors)
        data["services"] = services
        system = SYSTEMS.get(data.get("system", "linux"))
        if system is not None:
            given_tools = data.get("toolchain")
            if given_tools is None:
                data["toolchain"] = system.toolchain
            elif isinstance(given_tools, dict):
                data["toolchain"] = system.toolchain.overridden_by(given_tools)
        return data

    @property
    def os(self) -> System:
        """Its operating system, as an object (its init system is ``os.init``)."""
        return SYSTEMS[self.system]

    @property
    def runs_as(self) -> set[str]:
        """The systems whose services it may run: its own and the one it stands in for."""
        return {self.system, *([self.stand_in_for] if self.stand_in_for else [])}

    def get(self, kind: type[Opts]) -> Opts | None:
        """Its options of the service ``kind``, or None when it does not run that service."""
        found = self.services.get(kind.key)  # type: ignore[attr-defined]
        return found if isinstance(found, kind) else None

    def model_dump_data(self) -> dict[str, Any]:
        """Its data as group data gives it (services under their keys, plain values), for a
        changed copy to be validated again."""
        out = self.model_dump()
        services = out.pop("services")
        return {**out, **services}
