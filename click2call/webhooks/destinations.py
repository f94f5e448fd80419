"""Where a webhook made through the API may be sent: the address policy, pure.

A hook is a request the service makes on its creator's behalf, from inside the operator's network. So an address is
refused unless it is a global unicast address: loopback, link-local (the cloud metadata service 169.254.169.254
among them), private, shared (100.64.0.0/10), multicast, unspecified and the other special-purpose ranges of IANA's
registries are, over IPv4 and IPv6, unless the operator allowed a network that holds it. An IPv6 address that
carries an IPv4 one (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by the IPv4 address
it reaches. A host written as a number is read as the resolver reads it (inet_aton: 2130706433, 0x7f000001,
0177.0.0.1 and 127.1 are all 127.0.0.1), so its spelling changes nothing.

The tables are ours rather than ipaddress's is_global alone, which differs between Python versions (192.0.0.0/24,
multicast and fec0::/10 count as global in some); is_global stays as a backstop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import unquote, urlsplit

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


class Kind(StrEnum):
    """What an address that is not a global unicast one is, as a refusal says it."""

    UNSPECIFIED = "the unspecified address"
    LOOPBACK = "a loopback address"
    LINK_LOCAL = "a link-local address"
    PRIVATE = "a private address"
    SHARED = "a shared address (carrier-grade NAT)"
    MULTICAST = "a multicast address"
    RESERVED = "a reserved (special-purpose) address"


def _table(*rows: tuple[str, Kind]) -> tuple[tuple[Network, Kind], ...]:
    return tuple((ip_network(net), kind) for net, kind in rows)


# IANA's IPv4 special-purpose address registry, and multicast (the first match names the kind).
_IPV4 = _table(
    ("0.0.0.0/32", Kind.UNSPECIFIED), ("0.0.0.0/8", Kind.RESERVED), ("127.0.0.0/8", Kind.LOOPBACK),
    ("169.254.0.0/16", Kind.LINK_LOCAL), ("10.0.0.0/8", Kind.PRIVATE), ("172.16.0.0/12", Kind.PRIVATE),
    ("192.168.0.0/16", Kind.PRIVATE), ("100.64.0.0/10", Kind.SHARED), ("224.0.0.0/4", Kind.MULTICAST),
    ("192.0.0.0/24", Kind.RESERVED), ("192.0.2.0/24", Kind.RESERVED), ("192.88.99.0/24", Kind.RESERVED),
    ("198.18.0.0/15", Kind.RESERVED), ("198.51.100.0/24", Kind.RESERVED), ("203.0.113.0/24", Kind.RESERVED),
    ("240.0.0.0/4", Kind.RESERVED),  # 255.255.255.255, the broadcast address, among them
)
# IPv6: only 2000::/3 is global unicast; the special-purpose ranges inside it are listed.
_IPV6 = _table(
    ("::/128", Kind.UNSPECIFIED), ("::1/128", Kind.LOOPBACK), ("fe80::/10", Kind.LINK_LOCAL),
    ("fec0::/10", Kind.PRIVATE), ("fc00::/7", Kind.PRIVATE), ("ff00::/8", Kind.MULTICAST),
    ("2001::/23", Kind.RESERVED), ("2001:db8::/32", Kind.RESERVED), ("3fff::/20", Kind.RESERVED),
)
_GLOBAL_UNICAST_V6 = ip_network("2000::/3")
_NAT64 = ip_network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are the IPv4 address reached
METADATA = {ip_address("169.254.169.254"), ip_address("fd00:ec2::254")}  # cloud instance metadata services


def kind(address: Address) -> Kind | None:
    """What the address is when it is not a global unicast address; None when it is (IPv6 carrying IPv4: see
    embedded())."""
    if isinstance(address, IPv4Address):
        rows = _IPV4
    else:
        rows = _IPV6
        if address not in _GLOBAL_UNICAST_V6 and not any(address in net for net, _ in rows):
            return Kind.RESERVED  # ::/8 (IPv4-compatible, ...), 100::/64, 5f00::/16 ...
    for net, found in rows:
        if address in net:
            return found
    return None if address.is_global else Kind.RESERVED


def embedded(address: Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, NAT64's well-known prefix, 6to4."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


# One part of an inet_aton number: hexadecimal (0x...), octal (a leading 0) or decimal.
_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def inet_aton(text: str) -> IPv4Address | None:
    """An IPv4 address written the way inet_aton (and so getaddrinfo) reads it: one to four parts, each decimal,
    octal or hexadecimal, the last filling the bytes left (127.1 is 127.0.0.1, 2130706433 too). None: not one."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_ATON_PART.fullmatch(p) for p in parts):
        return None
    values = [int(p, 16) if p[:2] in ("0x", "0X") else int(p, 8) if p.startswith("0") else int(p) for p in parts]
    last_bits = 8 * (5 - len(values))
    if any(v > 0xFF for v in values[:-1]) or values[-1] >= 1 << last_bits:
        return None
    number = values[-1]
    for i, v in enumerate(values[:-1]):
        number |= v << (24 - 8 * i)
    return IPv4Address(number)


def numeric_host(host: str) -> Address | None:
    """A URL's host (as urlsplit gives it: no brackets) that is an address, in any spelling the resolver takes,
    as that address; None for a name."""
    if ":" in host:
        try:
            return ip_address(unquote(host))  # an IPv6 literal, maybe with a zone (fe80::1%25eth0)
        except ValueError:
            return None
    return inet_aton(host)


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


def describe(address: Address) -> str:
    """An address as a refusal names it: IPv6 that carries IPv4 shows both."""
    inner = embedded(address)
    return f"{address} (IPv4 {inner})" if inner is not None else str(address)


@dataclass(frozen=True)
class Policy:
    """The addresses a hook may reach: global unicast ones, and those of the networks the operator allowed."""

    allowed: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """Why the address may not be reached ("127.0.0.1, a loopback address"); None when it may."""
        if self._allows(address):
            return None
        inner = embedded(address)
        found = kind(inner if inner is not None else address)
        if found is None:
            return None
        note = " (a cloud metadata service)" if address in METADATA or inner in METADATA else ""
        return f"{describe(address)}, {found}{note}"

    def _allows(self, address: Address) -> bool:
        inner = embedded(address)
        return any(address in net or (inner is not None and inner in net) for net in self.allowed)

    def host_refusal(self, host: str) -> str | None:
        """A URL host that is an address (any spelling): why it is refused, worded with the host as written; None
        when it is allowed or is a name (a name is judged by what it resolves to, when it is resolved)."""
        address = numeric_host(host)
        if address is None:
            return None
        why = self.refusal(address)
        if why is None:
            return None
        written = host if ":" not in host else f"[{host}]"
        shown = describe(address)
        return f"{written} is {why.removeprefix(shown + ', ')}" if written.strip("[]") == shown else f"{written} is {why}"


@dataclass(frozen=True)
class Reach:
    """The networks the operator allows hooks made through the API to reach: C2C_WEBHOOK_ALLOWED_NETWORKS for
    every token (the operator's own included), and each tenant's allowed_networks for its tokens besides."""

    everyone: tuple[Network, ...] = ()
    tenants: Mapping[str, tuple[Network, ...]] = field(default_factory=dict)

    def policy(self, tenant: str | None) -> Policy:
        return Policy(self.everyone + (self.tenants.get(tenant, ()) if tenant is not None else ()))
