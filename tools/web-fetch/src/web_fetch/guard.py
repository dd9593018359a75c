"""Which addresses a fetch may connect to: public ones, and the networks of an allow-list.

The check runs where the connection is made (an httpcore network backend): the host name is
resolved once, every address it resolves to is checked, and the socket goes to a checked
address. So each hop of a redirect is checked again, and a name cannot resolve to a public
address for the check and to a private one for the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

from web_fetch.config import ALLOW_NETWORKS_ENV, Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedTarget(Exception):
    """A host that resolves to an address the policy refuses (or to none)."""


def kind_of(address: Address) -> str | None:
    """Why an address is not public (``None`` when it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return kind_of(address.ipv4_mapped)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class Policy:
    allow: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """What kind of non-public address refuses ``address``; ``None`` if it may be reached."""
        kind = kind_of(address)
        if kind is None:
            return None
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if any(a in net for a in (address, mapped) if a is not None for net in self.allow):
            return None
        return kind

    def resolve(self, host: str, port: int) -> list[Address]:
        """Every address of ``host``, each checked: BlockedTarget names the first refused."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise BlockedTarget(f"cannot resolve {host}: {error.strerror}") from None
        addresses = _unique(ipaddress.ip_address(info[4][0]) for info in infos)
        for address in addresses:
            kind = self.refusal(address)
            if kind:
                who = host if host == str(address) else f"{host} ({address})"
                raise BlockedTarget(
                    f"refused: {who} is a {kind} address; "
                    f"allow its network in {ALLOW_NETWORKS_ENV} to fetch it"
                )
        if not addresses:
            raise BlockedTarget(f"cannot resolve {host}: no address")
        return addresses


def _unique(addresses: Iterable[Address]) -> list[Address]:
    return list(dict.fromkeys(addresses))


class GuardedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the policy allows."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.policy.resolve(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        assert last is not None  # resolve() returns at least one address or raises
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedTarget("refused: unix sockets")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport, with its connection pool on the guarded backend and no proxy
    taken from the environment (a proxy would connect on the fetch's behalf, unchecked)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to pass a network backend: the same pool, with one.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(policy),
        )
