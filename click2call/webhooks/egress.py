"""How webhooks leave the service: aiohttp sessions whose connections reach only what a hook's policy allows.

The check is made on the address each connection actually uses, when it is made: a hook's session resolves names
through a resolver that drops the addresses its policy refuses (and fails when none is left), so a name re-pointed
after the hook was made is caught at the next connection. aiohttp does not resolve a host that is an address, so
those are judged before the request (Egress.refusal). A connection kept alive was checked when it was opened.
One session per policy (hooks of tenants with the same allowed networks share one): a resolver knows one policy, and
aiohttp shares a lookup between the requests of a session. Hooks the operator configured are trusted: theirs is a
plain session. Redirects are never followed (the dispatcher sends with allow_redirects=False).
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from .destinations import Policy, numeric_host, url_host

LOOKUP_TIMEOUT = 5.0  # seconds a hook's name may take to resolve when the hook is made


class Refused(OSError):
    """A hook's address that its policy refuses. An OSError, so that aiohttp hands it over as the cause of its
    connection error (ClientConnectorDNSError.os_error) and the dispatcher can tell it from a network failure."""


class Unresolved(Refused):
    """A hook's name that does not resolve when the hook is made."""


class Unusable(Refused):
    """A URL aiohttp cannot send to (its own parser refuses it)."""


def connected_host(url: str) -> str:
    """The host aiohttp connects to for this URL: yarl's reading, which is not always urllib's (full-width digits
    become ASCII ones, IDNA applies, a backslash is refused), so the check is made on it. Raises ValueError."""
    return URL(url).raw_host or ""


class GuardedResolver(AbstractResolver):
    """Resolves through another resolver and keeps only the addresses the policy allows."""

    def __init__(self, policy: Policy, resolver: AbstractResolver) -> None:
        self.policy = policy
        self.resolver = resolver

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        if (why := self.policy.host_refusal(host)) is not None:  # a number in another spelling: the resolver's way
            raise Refused(why)
        found = await self.resolver.resolve(host, port, family)
        if not found:
            raise OSError(f"{host} does not resolve")  # a lookup that failed: tried again, as any network error
        kept, refused = [], []
        for result in found:
            why = self.policy.refusal(ip_address(result["host"]))
            (kept if why is None else refused).append(why or result)
        if not kept:
            raise Refused(f"{host} resolves to {refused[0]}")
        return kept

    async def close(self) -> None:
        pass  # the resolver underneath is shared; Egress closes it


class Egress:
    """The sessions webhooks are sent through, by policy (None: a trusted hook), and the check of a hook's URL when
    it is made. `resolver`: how names are resolved (aiohttp's default; tests give their own)."""

    def __init__(self, resolver: AbstractResolver | None = None, limit: int = 64) -> None:
        self._resolver = resolver
        self._own_resolver = resolver is None
        self.limit = limit
        self._sessions: dict[Policy | None, aiohttp.ClientSession] = {}

    def _base(self) -> AbstractResolver:
        if self._resolver is None:
            self._resolver = aiohttp.DefaultResolver()  # made in the running loop
        return self._resolver

    def session(self, policy: Policy | None) -> aiohttp.ClientSession:
        if (session := self._sessions.get(policy)) is None:
            if policy is None:
                connector = aiohttp.TCPConnector(limit=self.limit, resolver=self._base())
            else:  # no DNS cache: every new connection is checked on a fresh answer
                connector = aiohttp.TCPConnector(limit=self.limit, resolver=GuardedResolver(policy, self._base()),
                                                 use_dns_cache=False)
            session = self._sessions[policy] = aiohttp.ClientSession(connector=connector)
        return session

    @staticmethod
    def refusal(url: str, policy: Policy | None) -> str | None:
        """Why a request to this URL may not go, decided before it goes: the host aiohttp connects to is an address
        the policy refuses (a name is checked by the session's resolver as the connection is made)."""
        if policy is None:
            return None
        try:
            return policy.host_refusal(connected_host(url))
        except ValueError:
            return None  # aiohttp refuses it too (InvalidURL): a final failure

    async def check(self, url: str, policy: Policy) -> None:
        """A hook's URL as it is made: its host, or every address its name resolves to now, must be allowed (the
        session checks again at every new connection). Raises Refused saying why."""
        try:
            host = connected_host(url)
        except ValueError:
            raise Unusable("is not a URL this service can send to") from None
        for written in dict.fromkeys((url_host(url), host)):  # as written first (the refusal names it so), then used
            if (why := policy.host_refusal(written)) is not None:
                raise Refused(why)
        if numeric_host(host) is not None:
            return
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                found = await self._base().resolve(host, 0, socket.AF_UNSPEC)
        except (OSError, TimeoutError) as exc:
            raise Unresolved(f"{host} does not resolve ({getattr(exc, 'strerror', None) or type(exc).__name__})"
                             ) from None
        if not found:
            raise Unresolved(f"{host} does not resolve")
        for result in found:  # every one: which the connection would use is the resolver's order of the day
            if (why := policy.refusal(ip_address(result["host"]))) is not None:
                raise Refused(f"{host} resolves to {why}")

    async def __aenter__(self) -> "Egress":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        if self._own_resolver and self._resolver is not None:
            await self._resolver.close()
            self._resolver = None
