"""Webhook subscriptions and their deliveries, as the API sees them; and the news that the hooks changed."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import deliveries, delivery_attempts, hooks, webhook_events
from ..errors import ApiError
from ..schema.hooks import Attempt, Delivery, Hook, HookCreate
from ..secret_box import SecretBox
from ..states import DeliveryStatus
from .destinations import Reach
from .egress import Egress, Refused, Unresolved, Unusable

if TYPE_CHECKING:
    from ..tenants import Tenant

log = logging.getLogger(__name__)


class HookChanges:
    """The outbox and the dispatcher each keep a copy of the hook table; a hook created, deleted or disabled
    through this process tells them both to read it again."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def notify(self) -> None:
        for listener in self._listeners:
            listener()


def hook_view(row: dict) -> Hook:
    """A hook as listed: the apikey and the secret are never shown back."""
    return Hook(
        id=row["id"], event=row["event"], callback_url=row["callback_url"],
        has_callback_apikey=bool(row["callback_apikey"]), has_secret=bool(row["secret"]),
        created_at=row["created_at"], disabled=row["disabled_at"] is not None,
        disabled_reason=row["disabled_reason"] or "", tenant=row["tenant"],
        configured=bool(row["configured"]),
    )


def _visible(tenant: "Tenant"):
    """The hooks this caller may see and change: a tenant's own; the operator sees all."""
    return sa.true() if tenant.is_operator else hooks.c.tenant == tenant.name


class HooksService:
    """Hooks as the API makes and shows them. A hook made through the API reaches only what its token's tenant may
    (`reach`, checked by `egress`: here as it is made, by the dispatcher at every connection); its secret and API
    key are stored sealed by `box`."""

    def __init__(self, engine: AsyncEngine, global_secrets: tuple[str, ...], wake: Callable[[], None],
                 changes: HookChanges, *, egress: Egress, box: SecretBox, reach: Reach = Reach()) -> None:
        self.engine = engine
        self.global_secrets = global_secrets
        self.wake = wake  # tells the dispatcher a delivery is due
        self.changes = changes
        self.egress = egress
        self.box = box
        self.reach = reach

    async def create(self, body: HookCreate, tenant: "Tenant") -> Hook:
        if body.secret is None and not self.global_secrets:
            raise ApiError("INVALID_PARAMETER", "no C2C_WEBHOOK_SECRET is configured: give this hook a secret")
        if (body.secret or body.callback_apikey) and not self.box.ready:
            raise ApiError("INVALID_PARAMETER", "this service keeps no secrets (no C2C_SECRET_KEY is configured): "
                                                "leave out secret and callback_apikey")
        try:
            await self.egress.check(body.callback_url, self.reach.policy(tenant.name))
        except Unusable as exc:
            raise ApiError("INVALID_PARAMETER", f"callback_url {exc}") from None
        except Unresolved as exc:
            raise ApiError("HOOK_URL_REFUSED", f"callback_url: {exc}") from None
        except Refused as exc:
            raise ApiError("HOOK_URL_REFUSED", f"callback_url: {exc}; hooks may not reach it unless the operator "
                                               "allows its network") from None
        row = {
            "id": uuid.uuid4().hex, "event": body.event, "callback_url": body.callback_url,
            "callback_apikey": self.box.seal(body.callback_apikey), "secret": self.box.seal(body.secret),
            "created_at": time.time(), "disabled_at": None, "disabled_reason": None, "tenant": tenant.name,
            "configured": False,
        }
        async with self.engine.begin() as conn:
            await conn.execute(hooks.insert().values(**row))
        self.changes.notify()
        return hook_view(row)

    async def list(self, tenant: "Tenant") -> list[Hook]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(hooks).where(_visible(tenant)).order_by(hooks.c.created_at))
            return [hook_view(dict(r)) for r in rows.mappings()]

    async def delete(self, hook_id: str, tenant: "Tenant") -> None:
        async with self.engine.begin() as conn:
            if (await conn.execute(hooks.delete().where(hooks.c.id == hook_id, _visible(tenant)))).rowcount != 1:
                raise ApiError("HOOK_NOT_FOUND", f"no hook with id {hook_id}")
        self.changes.notify()

    async def deliveries(self, hook_id: str, tenant: "Tenant", limit: int = 100) -> list[Delivery]:
        async with self.engine.connect() as conn:
            if not (await conn.execute(sa.select(hooks.c.id).where(hooks.c.id == hook_id, _visible(tenant)))).first():
                raise ApiError("HOOK_NOT_FOUND", f"no hook with id {hook_id}")
            rows = [dict(r) for r in (await conn.execute(
                sa.select(deliveries, webhook_events.c.event)
                .join(webhook_events, webhook_events.c.id == deliveries.c.event_id)
                .where(deliveries.c.hook_id == hook_id)
                .order_by(deliveries.c.created_at.desc(), deliveries.c.sequence.desc()).limit(limit)
            )).mappings()]
            attempts: dict[str, list[dict]] = {}
            if rows:
                for a in (await conn.execute(
                    sa.select(delivery_attempts).where(delivery_attempts.c.delivery_id.in_([r["id"] for r in rows]))
                    .order_by(delivery_attempts.c.id)
                )).mappings():
                    attempts.setdefault(a["delivery_id"], []).append(Attempt(
                        at=a["attempted_at"], status_code=a["status_code"], error=a["error"] or "",
                        duration_ms=a["duration_ms"], answer=a["answer"] or ""))
        return [
            Delivery(id=r["id"], webhook_id=r["event_id"], event=r["event"], call_id=r["call_id"],
                     sequence=r["sequence"], status=r["status"], attempts=r["attempts"],
                     last_status_code=r["last_status_code"], last_error=r["last_error"] or "",
                     next_attempt_at=r["next_attempt_at"] if r["status"] == DeliveryStatus.PENDING else None,
                     delivered_at=r["delivered_at"], history=attempts.get(r["id"], []))
            for r in rows
        ]

    async def resend(self, delivery_id: str, tenant: "Tenant") -> None:
        """Send a failed (or delivered) delivery again, same webhook-id and body; its retry window restarts."""
        now = time.time()
        own = deliveries.c.hook_id.in_(sa.select(hooks.c.id).where(_visible(tenant))) \
            if not tenant.is_operator else sa.true()
        async with self.engine.begin() as conn:
            done = await conn.execute(deliveries.update().where(
                deliveries.c.id == delivery_id, deliveries.c.status != DeliveryStatus.PENDING, own,
            ).values(status=DeliveryStatus.PENDING, next_attempt_at=now, created_at=now, attempts=0))
            if done.rowcount != 1:
                exists = (await conn.execute(
                    sa.select(deliveries.c.id).where(deliveries.c.id == delivery_id, own))).first()
                if not exists:
                    raise ApiError("DELIVERY_NOT_FOUND", f"no delivery with id {delivery_id}")
        self.wake()

    async def sync_configured(self, tenants: "tuple[Tenant, ...]") -> None:
        """Make the hooks table hold exactly the tenants file's hooks (beside those made through the API).
        A hook keeps its id, and so its delivery history, while its tenant, event and URL stay the same."""
        wanted = {}
        for tenant in tenants:
            for h in tenant.hooks:
                hook_id = "cfg_" + hashlib.sha256(f"{tenant.name}\n{h.event}\n{h.callback_url}".encode()).hexdigest()[:28]
                wanted[hook_id] = {"tenant": tenant.name, "event": h.event, "callback_url": h.callback_url,
                                   "callback_apikey": self.box.seal(h.callback_apikey), "secret": self.box.seal(h.secret)}
        async with self.engine.begin() as conn:
            existing = {r for (r,) in await conn.execute(sa.select(hooks.c.id).where(hooks.c.configured))}
            if gone := existing - wanted.keys():
                await conn.execute(hooks.delete().where(hooks.c.id.in_(gone)))
            for hook_id, values in wanted.items():
                if hook_id in existing:  # the secret or apikey may have changed; re-enable only by editing the file
                    await conn.execute(hooks.update().where(hooks.c.id == hook_id).values(**values))
                else:
                    await conn.execute(hooks.insert().values(
                        id=hook_id, created_at=time.time(), configured=True, **values))
        self.changes.notify()

    async def seal_stored(self) -> int:
        """At start: secrets and API keys stored in plain text before a key was set are encrypted now."""
        changed = await reseal(self.engine, self.box)
        if changed:
            self.changes.notify()
        return changed


async def reseal(engine: AsyncEngine, box: SecretBox, rotate: bool = False) -> int:
    """Store every hook's secret and API key encrypted with the newest key: the plain ones from before (at each
    start), and with rotate the encrypted ones again (`click2call rotate-secrets`). Without a key, plain ones stay as
    they are (a warning says so). Raises SecretError when a stored one cannot be read: the keys that sealed it are
    gone. Returns the number of hooks changed. Each update is guarded by the value read, so replicas starting
    together do not undo each other."""
    columns = (hooks.c.secret, hooks.c.callback_apikey)
    async with engine.begin() as conn:
        rows = (await conn.execute(sa.select(hooks.c.id, *columns).where(
            sa.or_(*(c.is_not(None) for c in columns))))).all()
        if not box.ready:
            for _, *values in rows:
                for value in values:
                    box.open(value)  # an encrypted one raises: no key to read it
            if rows:
                log.warning("%d webhook(s) keep their secret or callback_apikey in plain text in the database: "
                            "set C2C_SECRET_KEY to store them encrypted", len(rows))
            return 0
        changed = 0
        for hook_id, *values in rows:
            new = {c.name: sealed for c, v in zip(columns, values) if (sealed := box.reseal(v, rotate)) is not None}
            if new:
                await conn.execute(hooks.update().where(
                    hooks.c.id == hook_id, *(c == v for c, v in zip(columns, values) if c.name in new)
                ).values(**new))
                changed += 1
    return changed
