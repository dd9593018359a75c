"""Shared building blocks of the typed model: frozen strict models, ports, exposure, secrets."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

# Strict: a bool (True is 1) or a string is a typo in group data, never a port.
Port = Annotated[StrictInt, Field(ge=1, le=65535, description="a TCP port")]
# Strict: "no" or 1 would read as a boolean (pydantic's lax mode), the opposite of what "no" says.
Bool = Annotated[StrictBool, Field(description="True or False")]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", description="lowercase, dash-separated")]
AbsPath = Annotated[str, Field(pattern=r"^/", description="an absolute path")]

LOOPBACK = "127.0.0.1"
ANY_ADDRESS = "0.0.0.0"


class Frozen(BaseModel):
    """Every model is immutable and refuses unknown keys: a typo is an error, not a no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _keep_defaults(cls, data: Any) -> Any:
        """A nested model given in part keeps the rest of its default.

        ``litellm=dict(listener=dict(port=4001))`` moves the gateway's port and keeps it on the
        LAN: an override says what changes, never silently what it drops.
        """
        if not isinstance(data, dict):
            return data
        merged: dict[str, Any] | None = None
        for name, field in cls.model_fields.items():
            given, default = data.get(name), field.default
            if isinstance(given, dict) and isinstance(default, Frozen):
                merged = merged if merged is not None else dict(data)
                merged[name] = default.overridden_by(given)
        return data if merged is None else merged

    def overridden_by(self, given: dict[str, Any]) -> dict[str, Any]:
        """This default with the keys ``given`` sets replaced."""
        return {**dict(self), **given}

    def to_json(self) -> dict[str, Any]:
        """What ``pyinfra INVENTORY debug-inventory`` prints for group data holding a model."""
        return self.model_dump(mode="json")

    def evolve(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated again (``model_copy`` would skip validation)."""
        return self.model_validate({**dict(self), **changes})


class Exposure(StrEnum):
    LOOPBACK = "loopback"
    LAN = "lan"


class Listener(Frozen):
    """Where a service listens. LAN exposure must be declared on purpose, with a reason."""

    port: Port
    exposure: Exposure = Exposure.LOOPBACK
    lan_reason: str | None = Field(
        default=None, description="why this port is open to the LAN; required for LAN exposure"
    )

    @model_validator(mode="after")
    def _lan_on_purpose(self) -> Self:
        if self.exposure is Exposure.LAN and not (self.lan_reason or "").strip():
            raise ValueError(
                f"exposure: port {self.port} is LAN-exposed without lan_reason "
                "(rule: a service exposed to the LAN must be declared so on purpose)"
            )
        if self.exposure is Exposure.LOOPBACK and self.lan_reason is not None:
            raise ValueError(
                f"lan_reason: port {self.port} is loopback-only but has a lan_reason "
                "(rule: lan_reason goes only with exposure 'lan')"
            )
        return self

    def overridden_by(self, given: dict[str, Any]) -> dict[str, Any]:
        # Made loopback on purpose: the default's reason for the LAN no longer applies.
        if given.get("exposure") in (Exposure.LOOPBACK, "loopback") and "lan_reason" not in given:
            return {**dict(self), "lan_reason": None, **given}
        return super().overridden_by(given)

    @property
    def bind(self) -> str:
        return ANY_ADDRESS if self.exposure is Exposure.LAN else LOOPBACK

    @property
    def lan(self) -> bool:
        return self.exposure is Exposure.LAN


_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class SecretRef(Frozen):
    """A secret by reference: the name of the environment variable that carries it on the host.

    The value is generated on the host at first deploy (or set there by the operator) and never
    appears in group data, in a rendered file or in git. Written in group data as ``"env:NAME"``.
    """

    env: str = Field(description="environment variable carrying the secret on the host")

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith("env:"):
                return {"env": value.removeprefix("env:")}
            raise ValueError(
                "a secret is given as a literal value (rule: secrets are references 'env:NAME', "
                "generated on the host, never written in group data)"
            )
        return value

    @model_validator(mode="after")
    def _env_name(self) -> Self:
        if not _ENV_NAME.match(self.env):
            raise ValueError(
                f"env: {self.env!r} is not an environment variable name (rule: [A-Z][A-Z0-9_]*)"
            )
        return self

    @property
    def reference(self) -> str:
        """How LiteLLM's config refers to it."""
        return f"os.environ/{self.env}"


MOVING_REFS = frozenset({"main", "master", "HEAD", "develop", "trunk", "latest"})


class GitSource(Frozen):
    """A component no registry carries, installed from a pinned git reference."""

    url: str = Field(pattern=r"^(https://|file://|/)")
    ref: str = Field(min_length=1, description="a commit or tag; never a moving branch")

    @model_validator(mode="after")
    def _pinned(self) -> Self:
        if self.ref != self.ref.strip():  # git would look for a ref of that very name
            raise ValueError(
                f"ref: {self.ref!r} has leading or trailing whitespace (rule: a git ref is "
                "written exactly, with no spaces around it)"
            )
        if self.ref in MOVING_REFS:
            raise ValueError(
                f"ref: {self.ref!r} is a moving branch (rule: pin a commit or a tag so a rebuild "
                "next year installs the same code)"
            )
        return self


def env_name(text: str) -> str:
    """``ov-qwen2-5-3b`` -> ``OV_QWEN2_5_3B``: the spelling env variable names derive from."""
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")
