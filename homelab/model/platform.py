"""The whole platform: both hosts, the gateway, the storage, and the rules that span them."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

from pydantic import PrivateAttr, model_validator

from homelab.model.base import ROLES, Frozen, Listener, Role
from homelab.model.gateway import Gateway
from homelab.model.hosts import MiniHost, StorageRoot, StudioHost
from homelab.model.naming import Backend
from homelab.model.takeover import LegacyJob, LegacyUnit
from homelab.services.mlx import MLX_PORTS, span

if TYPE_CHECKING:
    from homelab.services.base import ServiceModule

__all__ = ["ROLES", "Platform", "Role", "address_problem"]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9-]{1,63})*$")


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be a host another host reaches, or None when it can."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        name = address.lower().rstrip(".")
        if name == "localhost" or name.startswith(("localhost.", "ip6-")):
            return f"{address!r} names this host's loopback, which no other host reaches"
        if _HOSTNAME.match(name) and not name.replace(".", "").isdigit():
            return None
        return f"{address!r} is neither an IP address nor a host name"
    if (
        ip.is_unspecified
        or ip.is_multicast
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or (ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255"))
    ):
        return (
            f"{address!r} is not reachable from another host "
            "(unspecified, multicast, loopback, link-local, reserved or broadcast)"
        )
    return None


class Platform(Frozen):
    """One typed model of the platform: every file, operation and check derives from it."""

    addresses: dict[Role, str]
    storage: tuple[StorageRoot, ...]
    gateway: Gateway
    mini: MiniHost
    studio: StudioHost
    #: Services that run differently here (the lab's); not data, so never dumped or compared.
    _substitutes: tuple[ServiceModule, ...] = PrivateAttr(default=())

    @property
    def substitutes(self) -> tuple[ServiceModule, ...]:
        return self._substitutes

    def evolve(self, **changes: Any) -> Self:
        evolved = super().evolve(**changes)
        evolved._substitutes = self._substitutes
        return evolved

    def substituting(self, *services: ServiceModule) -> Platform:
        """This platform with ``services`` in place of the services of the same name."""
        copy = self.model_copy()
        copy._substitutes = (*self._substitutes, *services)
        return copy

    # -- derived views -------------------------------------------------------------------

    def host(self, role: Role) -> MiniHost | StudioHost:
        return self.mini if role == "mini" else self.studio

    def listeners(self, role: Role) -> Iterator[tuple[str, str, Listener]]:
        """(service name, field path, listener) of every enabled listener on a host."""
        if role == "mini":
            for name, service in self.mini.services():
                if service.enabled:
                    yield service.kind, f"mini.{name}.listener.port", service.listener
            return
        for i, model in enumerate(self.studio.mlx.models):
            if model.port is not None:
                yield (
                    f"mlx-{model.port}",
                    f"studio.mlx.models[{i}].port",
                    self.studio.mlx_listener(model),
                )
        for i, local in enumerate(self.studio.optillm_local):
            if local.enabled:
                yield local.handle, f"studio.optillm_local[{i}].listener.port", local.listener
        if self.studio.afm.enabled:
            yield "afm", "studio.afm.listener.port", self.studio.afm.listener

    def handles(self) -> Iterator[tuple[str, Backend, str]]:
        """(handle, backend, field path) of every handle the gateway exposes to clients."""
        for i, model in enumerate(self.studio.mlx.models):
            if model.port is not None:
                yield model.model_id, Backend.MLX, f"studio.mlx.models[{i}].model_id"
        for i, ov in enumerate(self.mini.ov_server.models):
            if self.mini.ov_server.enabled:
                yield ov.model_id, Backend.OV, f"mini.ov_server.models[{i}].model_id"
        for i, opt in enumerate(self.gateway.opt_handles):
            yield opt.handle, Backend.OPT, f"gateway.opt_handles[{i}].handle"
        for i, local in enumerate(self.studio.optillm_local):
            if local.enabled:
                yield local.handle, Backend.OPT, f"studio.optillm_local[{i}].handle"
        if self.studio.afm.enabled:
            for i, model_id in enumerate(self.studio.afm.model_ids):
                yield model_id, Backend.AFM, f"studio.afm.model_ids[{i}]"

    def storage_of(self, path: str) -> StorageRoot | None:
        """The most specific declared storage root holding ``path``."""
        roots = [
            r for r in self.storage if path == r.path or path.startswith(r.path.rstrip("/") + "/")
        ]
        return max(roots, key=lambda r: len(r.path), default=None)

    # -- rules that span fields ------------------------------------------------------------

    @model_validator(mode="after")
    def _cross_rules(self) -> Self:
        problems: list[str] = []
        problems += self._address_rules()
        problems += self._port_rules()
        problems += self._handle_rules()
        problems += self._storage_rules()
        problems += self._routing_rules()
        problems += self._takeover_rules()
        problems += self._tool_rules()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _address_rules(self) -> list[str]:
        problems = []
        for role in ROLES:
            if role not in self.addresses:
                problems.append(f"addresses.{role}: missing (rule: the inventory names both hosts)")
                continue
            why = address_problem(self.addresses[role])
            if why:
                problems.append(f"addresses.{role}: {why} (rule: a host address others can reach)")
        if len(set(self.addresses.values())) < len(self.addresses):
            problems.append(
                f"addresses: {self.addresses} gives two hosts one address "
                "(rule: each host has its own address)"
            )
        return problems

    def _port_rules(self) -> list[str]:
        problems = []
        for role in ROLES:
            seen: dict[int, str] = {}
            for _name, path, listener in self.listeners(role):
                if listener.port in seen:
                    problems.append(
                        f"{path}: {listener.port} is also used by {seen[listener.port]} "
                        "(rule: no two services on one host share a port)"
                    )
                else:
                    seen[listener.port] = path
        for i, local in enumerate(self.studio.optillm_local):
            if local.listener.port in MLX_PORTS:
                problems.append(
                    f"studio.optillm_local[{i}].listener.port: {local.listener.port} lies in the "
                    f"MLX ranges (rule: {span(MLX_PORTS)} belong to MLX servers)"
                )
        return problems

    def _handle_rules(self) -> list[str]:
        problems = []
        where: dict[str, list[str]] = defaultdict(list)
        for handle, _backend, path in self.handles():
            where[handle].append(path)
        for handle, paths in where.items():
            if len(paths) > 1:
                problems.append(
                    f"{paths[1]}: {handle!r} is also declared at {paths[0]} "
                    "(rule: handles are unique)"
                )
        return problems

    def _storage_rules(self) -> list[str]:
        problems = []
        for i, model in enumerate(self.studio.mlx.models):
            root = self.storage_of(model.source_path)
            if root is None:
                problems.append(
                    f"studio.mlx.models[{i}].source_path: {model.source_path!r} is under no "
                    "declared storage root (rule: every model lives on declared storage)"
                )
            elif not root.showroom and model.port is not None:
                problems.append(
                    f"studio.mlx.models[{i}].port: {model.model_id!r} lives on backroom storage "
                    f"{root.name!r} but has port {model.port} (rule: showroom vs backroom: "
                    "a model stored only on backroom storage gets no handle)"
                )
        return problems

    def _routing_rules(self) -> list[str]:
        problems = []
        served = {m.model_id for m in self.studio.mlx.served}
        for i, opt in enumerate(self.gateway.opt_handles):
            if opt.base not in served:
                problems.append(
                    f"gateway.opt_handles[{i}].base: {opt.base!r} is not a served MLX handle "
                    "(rule: an opt-* handle runs on an mlx-* handle that has a port)"
                )
        if self.gateway.uses_optillm and not self.mini.optillm.enabled:
            problems.append(
                "mini.optillm.enabled: false while the gateway routes through OptiLLM "
                "(rule: route_via_optillm and opt-* handles need the OptiLLM proxy)"
            )
        known = {h for h, _b, _p in self.handles()}
        for i, (handle, others) in enumerate(self.gateway.router.fallbacks):
            for name in (handle, *others):
                if name not in known:
                    problems.append(
                        f"gateway.router.fallbacks[{i}]: {name!r} is not a declared handle "
                        "(rule: fallbacks name handles the gateway serves)"
                    )
        return problems

    def _takeover_rules(self) -> list[str]:
        from homelab.services import daemons

        problems = []
        for role in ROLES:
            host = self.host(role)
            takeover, at = host.takeover, f"{role}.takeover"
            ours = {d.name: d for d in daemons(self, role)}
            our_units = {d.unit: d.name for d in ours.values() if host.os != "darwin"}
            seen: set[str] = set()
            legacy: list[tuple[str, tuple[LegacyUnit | LegacyJob, ...]]] = [
                ("units", takeover.units),
                ("launchd_jobs", takeover.launchd_jobs),
            ]
            for kind, items in legacy:
                for i, item in enumerate(items):
                    where = f"{at}.{kind}[{i}]"
                    name = item.unit if isinstance(item, LegacyUnit) else item.label
                    if name in seen:
                        problems.append(f"{where}: {name!r} is declared twice (rule: once each)")
                    seen.add(name)
                    # Days later a replacing daemon may be gone (its model dropped): the
                    # takeover is history; one replacing daemon still there is enough.
                    if not set(item.replaced_by) & set(ours):
                        problems.append(
                            f"{where}.replaced_by: {list(item.replaced_by)} names no daemon of "
                            f"{role} (rule: a legacy unit is replaced by one of {sorted(ours)})"
                        )
            init = "launchd" if host.os == "darwin" else "systemd"
            if host.os == "darwin" and takeover.units:
                problems.append(
                    f"{at}.units: {role} runs launchd, not systemd "
                    "(rule: a host's legacy jobs are of its own init system: launchd_jobs)"
                )
            if host.os != "darwin" and takeover.launchd_jobs:
                problems.append(
                    f"{at}.launchd_jobs: {role} runs {init}, not launchd "
                    "(rule: a host's legacy jobs are of its own init system: units)"
                )
            for i, unit in enumerate(takeover.units):
                where = f"{at}.units[{i}]"
                mine = our_units.get(unit.unit)
                if mine is not None and not unit.same_name:
                    problems.append(
                        f"{where}.unit: {unit.unit!r} is also the platform's unit for {mine} "
                        "(rule: a legacy unit of the same name as ours says same_name: true, "
                        "so its file is saved aside before ours replaces it)"
                    )
                if unit.same_name and (mine is None or mine not in unit.replaced_by):
                    problems.append(
                        f"{where}.same_name: the platform renders no unit {unit.unit!r} among "
                        f"{list(unit.replaced_by)} (rule: same_name only for a unit of the very "
                        "name of the daemon replacing it)"
                    )
            our_plists = {d.unit_path for d in ours.values()}
            for i, job in enumerate(takeover.launchd_jobs):
                if job.plist in our_plists:
                    problems.append(
                        f"{at}.launchd_jobs[{i}].plist: {job.plist!r} is the platform's own plist "
                        "(rule: a legacy job is not one the platform renders)"
                    )
            legacy_data = takeover.open_webui_data
            if legacy_data is None:
                continue
            if "open-webui" not in ours:
                problems.append(
                    f"{at}.open_webui_data: {role} runs no Open WebUI "
                    "(rule: legacy data is imported on the host that runs the service)"
                )
                continue
            new = ours["open-webui"].state_dir
            a, b = legacy_data.rstrip("/") + "/", new.rstrip("/") + "/"
            if a.startswith(b) or b.startswith(a):
                problems.append(
                    f"{at}.open_webui_data: {legacy_data!r} overlaps the platform's data "
                    f"directory {new!r} (rule: legacy data is imported from elsewhere)"
                )
        return problems

    def _tool_rules(self) -> list[str]:
        problems = []
        names = [tool.name for tool in self.mini.mcp_tools]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append(
                    f"mini.mcp_tools[{i}].name: {name!r} is listed twice "
                    "(rule: one registry entry per tool)"
                )
        chosen = self.mini.tiny_agents.model
        served = {h for h, _b, _p in self.handles()}
        if chosen is not None and chosen not in served:
            problems.append(
                f"mini.tiny_agents.model: {chosen!r} is not a declared handle "
                "(rule: Tiny Agents asks the gateway for a handle it serves)"
            )
        return problems
