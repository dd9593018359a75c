"""The whole platform: its hosts, the gateway's settings, the storage, and the rules that span
them. Everything else is a fold over the services' contributions (``homelab/model/service``).
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from pydantic import PrivateAttr, model_validator

from homelab.model.base import Frozen
from homelab.model.gateway import Gateway
from homelab.model.host import Host, StorageRoot
from homelab.model.registry import registered
from homelab.model.service import WARM, Daemon, Handle, HostFile, Served, Warmup
from homelab.model.takeover import LegacyJob, LegacyUnit

if TYPE_CHECKING:
    from homelab.model.routing import Route

__all__ = ["Platform", "ServiceModule", "address_problem"]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9-]{1,63})*$")


Opts = TypeVar("Opts", bound=Frozen)


class ServiceModule(Generic[Opts]):
    """One service: placed on hosts by their data, it derives what it adds to the platform.

    Subclasses set ``name`` and ``options`` (the typed options a host's data gives under
    ``options.key``) and override what they contribute. A lab substitute subclasses a service
    and overrides what it does differently.
    """

    name: ClassVar[str]
    options: type[Opts]
    #: The systems it runs on; a host of another system placing it is refused.
    systems: ClassVar[frozenset[str]] = frozenset({"linux", "macos"})
    #: Why it runs only there, for the rule's message.
    systems_why: ClassVar[str] = ""

    @property
    def key(self) -> str:
        """The field a host's data places it under."""
        return str(self.options.key)  # type: ignore[attr-defined]

    def placed(self, platform: Platform) -> Iterator[tuple[str, Opts]]:
        """(host, options) of every host whose data places it, in the hosts' order."""
        for name, host in platform.hosts.items():
            found = host.services.get(self.key)
            if isinstance(found, self.options):
                yield name, found

    def on(self, platform: Platform, host: str) -> Opts | None:
        """Its options on ``host``, or None when that host does not run it."""
        found = platform.hosts[host].services.get(self.key)
        return found if isinstance(found, self.options) else None

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        """Every daemon of the service on ``host``, enabled or not (disabled ones are kept
        stopped)."""
        return ()

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        """The configuration files one of its daemons runs on (its unit aside)."""
        return []

    def weights(self, platform: Platform, host: str) -> dict[str, bool]:
        """The hub repositories its data on ``host`` names (served or stored), each with
        whether one of its servers serves it: what ``homelab weights prune`` keeps."""
        return {}

    def shared_files(self, platform: Platform, host: str) -> list[HostFile]:
        """Files of the service on ``host`` that belong to none of its daemons alone."""
        return []

    def routes(self, platform: Platform) -> Iterator[Route]:
        """The gateway routes it adds (client handles and internal names)."""
        return iter(())

    def handles(self, platform: Platform) -> Iterator[Handle]:
        """The client handles it adds, with where the data declares each."""
        return iter(())

    def gateway_environment(self, platform: Platform) -> dict[str, str]:
        """Variables it adds to the gateway's environment (where the gateway finds it)."""
        return {}

    def endpoints(self, platform: Platform) -> dict[str, tuple[str, str]]:
        """(endpoint_ref, managed_by) of each of its handles, as the operator's registry names
        them: where its model is served and the init system that runs it there."""
        return {}

    def served(self, platform: Platform) -> Iterator[Served]:
        """Each model one of its servers serves (one per port): the deployments of its handles."""
        return iter(())

    def warmups(self, platform: Platform, host: str) -> tuple[Warmup, ...]:
        """What its servers on ``host`` are asked right after they start: by default each
        model marked warm that one of its servers serves (one per port)."""
        return tuple(
            Warmup(platform.server_of(s), ((s.handle, s.upstream_model),), WARM)
            for s in self.served(platform)
            if s.host == host and s.warm
        )

    def placement_problems(self, platform: Platform) -> list[str]:
        """Where it may be placed (beside what it needs): checked before anything is derived."""
        return []

    def problems(self, platform: Platform) -> list[str]:
        """The rules it sets across the platform that its options alone cannot check."""
        return []

    def status_command(self, platform: Platform, host: str) -> str | None:
        """A shell command whose output ``homelab status`` reports for this service on ``host``
        (through :meth:`status_lines`); None: nothing beyond its daemons."""
        return None

    def status_lines(self, platform: Platform, host: str, output: list[str]) -> list[str]:
        """What ``homelab status`` shows of :meth:`status_command`'s output lines."""
        return []

    def version_command(self, daemon: Daemon) -> str | None:
        """A shell command printing the version ``daemon`` runs; None: its venv's package's."""
        return None


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

    #: Each host's address, by the inventory's name (the inventory being loaded gives them).
    addresses: dict[str, str]
    storage: tuple[StorageRoot, ...]
    gateway: Gateway
    #: Every host, by the inventory's name, in the inventory's order.
    hosts: dict[str, Host]
    #: Services that run differently here (the lab's); not data, so never dumped or compared.
    _substitutes: tuple[ServiceModule[Any], ...] = PrivateAttr(default=())

    @property
    def substitutes(self) -> tuple[ServiceModule[Any], ...]:
        return self._substitutes

    def evolve(self, **changes: Any) -> Self:
        evolved = super().evolve(**changes)
        evolved._substitutes = self._substitutes
        return evolved

    def substituting(self, *services: ServiceModule[Any]) -> Platform:
        """This platform with ``services`` in place of the services of the same name."""
        copy = self.model_copy()
        copy._substitutes = (*self._substitutes, *services)
        return copy

    # -- folds over the services ----------------------------------------------------------

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            hosts = ", ".join(self.hosts)
            raise KeyError(f"the platform has no host {name!r} (hosts: {hosts})") from None

    def modules(self, host: str | None = None) -> tuple[ServiceModule[Any], ...]:
        """The services in deploy order (those ``host`` runs), each replaced by its substitute
        where it has one."""
        substitutes = {s.name: s for s in self._substitutes}
        chosen = tuple(substitutes.get(s.name, s) for s in registered())
        if host is None:
            return chosen
        placed = self.host(host).services
        return tuple(s for s in chosen if s.key in placed)

    def module(self, name: str) -> ServiceModule[Any]:
        for service in self.modules():
            if service.name == name:
                return service
        raise KeyError(f"the platform has no service named {name!r}")

    def daemons(self, host: str) -> tuple[Daemon, ...]:
        """Every daemon of one host, enabled or not (disabled ones are rendered, not started)."""
        return tuple(d for s in self.modules(host) for d in s.daemons(self, host))

    def enabled_daemons(self) -> list[Daemon]:
        """Every daemon the data turns on, every host."""
        return [d for name in self.hosts for d in self.daemons(name) if d.enabled]

    def daemon(self, host: str, name: str) -> Daemon:
        for daemon in self.daemons(host):
            if daemon.name == name:
                return daemon
        raise KeyError(f"{host} runs no daemon named {name!r}")

    def service_of(self, daemon: Daemon) -> ServiceModule[Any]:
        """The service a daemon belongs to."""
        for service in self.modules(daemon.host):
            if any(d.name == daemon.name for d in service.daemons(self, daemon.host)):
                return service
        raise KeyError(f"no service of {daemon.host} runs {daemon.name!r}")

    def served(self) -> Iterator[Served]:
        """Every deployment of a model served one per port, host by host."""
        for service in self.modules():
            yield from service.served(self)

    def warmups(self, host: str) -> tuple[Warmup, ...]:
        """What each enabled server of ``host`` is asked right after it starts."""
        return tuple(
            w for s in self.modules(host) for w in s.warmups(self, host) if w.daemon.enabled
        )

    def server_of(self, served: Served) -> Daemon:
        """The daemon that serves one deployment: its host's daemon on its port."""
        for daemon in self.daemons(served.host):
            if daemon.listener.port == served.port:
                return daemon
        raise LookupError(f"{served.host} runs no daemon on {served.port} for {served.handle}")

    def handles(self) -> Iterator[Handle]:
        """Every handle the gateway exposes to clients, by backend as the routes are."""
        from homelab.model.naming import Backend

        order = list(Backend)
        found = [h for service in self.modules() for h in service.handles(self)]
        yield from sorted(found, key=lambda h: order.index(h.backend))

    def routes(self) -> tuple[Route, ...]:
        """Every gateway route: client handles first (by backend), the aliases' deployments,
        then internal names."""
        from homelab.model.naming import Backend
        from homelab.model.routing import alias_routes

        order = list(Backend)
        away = self.in_maintenance()
        out = sorted(
            (r for r in self._service_routes() if r.host not in away),
            key=lambda r: (r.internal, order.index(r.backend)),
        )
        aliased = list(alias_routes(out, self.gateway.aliases))
        clients = [r for r in out if not r.internal]
        return (*clients, *aliased, *(r for r in out if r.internal))

    def _service_routes(self) -> Iterator[Route]:
        """Every route the services contribute, before maintenance and aliases."""
        return (r for s in self.modules() for r in s.routes(self))

    def client_names(self) -> set[str]:
        """What a client may send the gateway as its model: every handle and every alias."""
        return {h.handle for h in self.handles()} | {a.name for a in self.gateway.aliases}

    def in_maintenance(self) -> dict[str, str]:
        """The hosts out of the gateway's rotation, with why."""
        return {n: h.maintenance for n, h in self.hosts.items() if h.maintenance is not None}

    def address(self, host: str, seen_from: str) -> str:
        """How ``seen_from`` reaches ``host``: loopback on itself, else the host's address."""
        return "localhost" if host == seen_from else self.addresses[host]

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
        problems += self._system_rules()
        for service in self.modules():
            problems += service.placement_problems(self)
        if not problems:  # a service on a system it cannot run on renders nothing sensible
            problems += self._port_rules()
            problems += self._handle_rules()
            problems += self._takeover_rules()
            problems += self._maintenance_rules()
            for service in self.modules():
                problems += service.problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _address_rules(self) -> list[str]:
        problems = []
        for name in self.hosts:
            if name not in self.addresses:
                problems.append(f"addresses.{name}: missing (rule: every host is in the inventory)")
                continue
            why = address_problem(self.addresses[name])
            if why:
                problems.append(f"addresses.{name}: {why} (rule: a host address others can reach)")
        for name in self.addresses:
            if name not in self.hosts:
                problems.append(
                    f"hosts.{name}: the inventory names it but no data places anything on it "
                    f"(rule: a host joins by an inventory entry and its data file hosts/{name}.py)"
                )
        if len(set(self.addresses.values())) < len(self.addresses):
            problems.append(
                f"addresses: {self.addresses} gives two hosts one address "
                "(rule: each host has its own address)"
            )
        return problems

    def _system_rules(self) -> list[str]:
        problems = []
        for name, host in self.hosts.items():
            for service in self.modules(name):
                if not service.systems & host.runs_as:
                    why = f": {service.systems_why}" if service.systems_why else ""
                    problems.append(
                        f"{name}.{service.key}: {service.name} runs on "
                        f"{' or '.join(sorted(service.systems))}, not {host.system}"
                        f" (rule: a service only on a system it supports{why})"
                    )
        return problems

    def _port_rules(self) -> list[str]:
        problems = []
        for name, host in self.hosts.items():
            seen: dict[int, str] = {}
            for port, what in host.base_ports.items():
                seen[port] = f"{name}.base_ports ({what})"
            for daemon in self.daemons(name):
                if not daemon.enabled:
                    continue
                port, where = daemon.listener.port, daemon.where or f"{name}.{daemon.name}"
                if port in seen:
                    problems.append(
                        f"{where}: {port} is also used by {seen[port]} "
                        "(rule: no two services on one host share a port)"
                    )
                else:
                    seen[port] = where
        return problems

    def _handle_rules(self) -> list[str]:
        problems = []
        where: dict[str, list[str]] = defaultdict(list)
        for h in self.handles():
            where[h.handle].append(h.where)
        for handle, paths in where.items():
            if len(paths) > 1:
                problems.append(
                    f"{paths[1]}: {handle!r} is also declared at {paths[0]} "
                    "(rule: handles are unique)"
                )
        return problems

    def _maintenance_rules(self) -> list[str]:
        """A host leaves the rotation only where the rest still serve what it serves."""
        away = self.in_maintenance()
        if not away:
            return []
        from homelab.model.naming import ROUTER_PREFIX

        problems = []
        # Where each handle is served, as the services route it (before maintenance is applied).
        serving: dict[str, set[str]] = defaultdict(set)
        for route in self._service_routes():
            if route.host is not None:
                serving[route.handle.removeprefix(ROUTER_PREFIX)].add(route.host)
        for name in away:
            # With every host the data takes out at once: two replicas' hosts out together
            # leave their handle nothing.
            alone = sorted(h for h, hosts in serving.items() if name in hosts <= set(away))
            if alone:
                problems.append(
                    f"{name}.maintenance: {', '.join(alone)} would have no deployment left "
                    "(rule: a host leaves the rotation only where its handles are served "
                    "elsewhere)"
                )
            elif not any(name in hosts for hosts in serving.values()):
                problems.append(
                    f"{name}.maintenance: {name} serves no model the gateway routes to "
                    "(rule: maintenance takes a model server's deployments out of the rotation)"
                )
        return problems

    def _takeover_rules(self) -> list[str]:
        problems = []
        for name, host in self.hosts.items():
            takeover, at = host.takeover, f"{name}.takeover"
            init = host.os.init
            ours = {d.name: d for d in self.daemons(name)}
            seen: set[str] = set()
            legacy: list[tuple[str, tuple[LegacyUnit | LegacyJob, ...]]] = [
                ("units", takeover.units),
                ("launchd_jobs", takeover.launchd_jobs),
            ]
            for kind, items in legacy:
                if items and kind != init.legacy_field:
                    problems.append(
                        f"{at}.{kind}: {name} runs {init.name} "
                        f"(rule: a host's legacy jobs are of its own init system: "
                        f"{init.legacy_field})"
                    )
                for i, item in enumerate(items):
                    where = f"{at}.{kind}[{i}]"
                    legacy_name = item.unit if isinstance(item, LegacyUnit) else item.label
                    if legacy_name in seen:
                        problems.append(
                            f"{where}: {legacy_name!r} is declared twice (rule: once each)"
                        )
                    seen.add(legacy_name)
                    # Days later a replacing daemon may be gone (its model dropped): the
                    # takeover is history; one replacing daemon still there is enough.
                    if not set(item.replaced_by) & set(ours):
                        problems.append(
                            f"{where}.replaced_by: {list(item.replaced_by)} names no daemon of "
                            f"{name} (rule: a legacy unit is replaced by one of {sorted(ours)})"
                        )
            our_units = {d.unit: d.name for d in ours.values()}
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
                    f"{at}.open_webui_data: {name} runs no Open WebUI "
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
