"""Where a webhook may be delivered: https only (http by a setting), never to an address inside the network.

A webhook's URL is chosen by whoever holds an integration token; without these checks the delivery log would
be a port scanner of the server's own network (loopback, the private ranges, the cloud's metadata service).

- ``check_url`` (at registration): the scheme, and every address the host is (an IP in any of its spellings,
  ``0x7f000001``, ``2130706433``, ``[::ffff:127.0.0.1]``) or resolves to, must be public.
- ``pin`` (at connect time, on every attempt): resolves again and returns the one checked address to connect
  to, so a name that resolved to a public address at registration cannot now lead inside (DNS rebinding).

An allow-list (``TargetPolicy.allow``: host names or networks such as ``10.20.0.0/16``) lets an operator reach
an on-premises ticket system. Pure except for ``resolve`` (the one seam to DNS).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(ValueError):
    """The URL may not be delivered to; the message says why (shown to the caller)."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_http: bool = False
    """Plain http targets are refused unless this is set."""
    allow: tuple[str, ...] = ()
    """Host names, addresses or networks (CIDR) that may be delivered to although they are not public."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int

    @property
    def key(self) -> str:
        """What per-host limits count by."""
        return f"{self.scheme}://{self.host}:{self.port}"


def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to; [] when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def literal_address(host: str) -> IpAddress | None:
    """The address a host written as an IP stands for, in any spelling the C library accepts
    (``127.1``, ``0x7f000001``, ``2130706433``, ``0177.0.0.1``); None for a name."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefxABCDEFX." for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _embedded_v4(address: IpAddress) -> IpAddress:
    """The IPv4 address inside an IPv4-mapped, NAT64, 6to4 or Teredo IPv6 address, else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def is_public(address: IpAddress) -> bool:
    """Globally routable: not loopback, private, link-local (metadata), shared, reserved or multicast."""
    inner = _embedded_v4(address)
    return all(a.is_global and not a.is_multicast for a in {address, inner})


def _allowed(host: str, address: IpAddress | None, policy: TargetPolicy) -> bool:
    for entry in policy.allow:
        if entry.lower() == host:
            return True
        if address is not None:
            try:
                if _embedded_v4(address) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def parse_target(url: str, policy: TargetPolicy) -> Target:
    """Scheme, host and port of ``url``; refuses other schemes, plain http (unless allowed) and credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise TargetRefused("a webhook URL must be https")
    if scheme == "http" and not policy.allow_http:
        raise TargetRefused("a webhook URL must be https (plain http is off: api.webhook_allow_http)")
    if parts.username or parts.password:
        raise TargetRefused("a webhook URL may not carry credentials; the signature authenticates us")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetRefused("a webhook URL needs a host")
    return Target(scheme, host, port or (443 if scheme == "https" else 80))


def _refuse_inside(target: Target, addresses: Sequence[IpAddress], policy: TargetPolicy) -> None:
    for address in addresses:
        if not is_public(address) and not _allowed(target.host, address, policy):
            raise TargetRefused(
                f"{target.host} is {address}, an address inside the network (loopback, private, "
                "link-local or metadata); allow it with api.webhook_allow_hosts if it is your ticket system"
            )


def _addresses(target: Target, resolve: Resolver) -> list[IpAddress]:
    literal = literal_address(target.host)
    if literal is not None:
        return [literal]
    found: list[IpAddress] = []
    for text in resolve(target.host, target.port):
        parsed = literal_address(text)
        if parsed is not None:
            found.append(parsed)
    return found


def check_url(url: str, policy: TargetPolicy, resolve: Resolver = system_resolve) -> Target:
    """At registration: refuse a URL that is not https or that is (or resolves to) an inside address.
    A name that does not resolve now is accepted: every delivery checks again (``pin``)."""
    target = parse_target(url, policy)
    if _allowed(target.host, None, policy):
        return target
    _refuse_inside(target, _addresses(target, resolve), policy)
    return target


def pin(url: str, policy: TargetPolicy, resolve: Resolver = system_resolve) -> tuple[Target, str]:
    """At connect time: the target and the one checked address to connect to (as text)."""
    target = parse_target(url, policy)
    addresses = _addresses(target, resolve)
    if not addresses:
        raise TargetRefused(f"{target.host} does not resolve")
    _refuse_inside(target, addresses, policy)
    return target, str(addresses[0])
