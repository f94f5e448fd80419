"""The audit trail: every state-changing request, refused ones too, with who asked (the token's id, never the token),
from where, what, on which call or extension, and how it ended. Written by the operation layer (http/operation.py)
once per request; read through GET /v1/audit by `admin` tokens (a tenant's, its own entries); never changed through the
API. Entries older than C2C_AUDIT_RETENTION_DAYS are removed in the background with the other kinds retention keeps
(retention.py)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from . import cdr
from .db import GroupCommit, audit
from .errors import ApiError
from .schema.audit import AuditEntry, AuditFilters, AuditPage
from .states import AuditAction
from .tenants import Tenant


@dataclass(frozen=True)
class Entry:
    """One request, as recorded."""

    token_id: str
    tenant: str | None
    client: str | None
    action: AuditAction
    status: int
    error: str | None = None
    call_id: str | None = None
    extension: str | None = None
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def row(self) -> dict:
        return {"at": self.at, "token_id": self.token_id, "tenant": self.tenant, "client": self.client,
                "action": str(self.action), "call_id": self.call_id, "extension": self.extension,
                "target": self.target, "status": self.status, "error": self.error,
                "detail": json.dumps(self.detail, separators=(",", ":"), ensure_ascii=False) if self.detail else None}


class AuditLog:
    def __init__(self, engine: AsyncEngine, write: GroupCommit, tz: ZoneInfo) -> None:
        self.engine = engine
        self.write = write  # entries go with the other durable writes (one commit for many)
        self.tz = tz

    async def record(self, entry: Entry) -> None:
        row = entry.row()
        await self.write(lambda conn: conn.execute(audit.insert().values(**row)))

    async def search(self, filters: AuditFilters, tenant: Tenant) -> AuditPage:
        """Newest first; a tenant's token sees only its tenant's entries (asking for another tenant's: 403)."""
        c = audit.c
        where = []
        if not tenant.is_operator:
            if filters.tenant is not None and filters.tenant != tenant.name:
                raise ApiError("FORBIDDEN", "a tenant's token reads only its own tenant's audit entries")
            where.append(c.tenant == tenant.name)
        elif filters.tenant is not None:
            where.append(c.tenant == filters.tenant)
        if filters.from_ is not None:
            where.append(c.at >= cdr.epoch(filters.from_, self.tz, end=False))
        if filters.to is not None:
            where.append(c.at < cdr.epoch(filters.to, self.tz, end=True))
        for name in ("token_id", "action", "call_id", "extension"):
            if (value := getattr(filters, name)) is not None:
                where.append(c[name] == str(value))
        query = sa.select(audit).where(*where).order_by(c.id.desc()).limit(filters.limit)
        total = None
        async with self.engine.connect() as conn:
            if filters.page is not None:
                query = query.offset((filters.page - 1) * filters.limit)
                total = (await conn.execute(sa.select(sa.func.count()).select_from(audit).where(*where))).scalar_one()
            elif filters.scroll_id is not None:
                query = query.where(c.id < filters.scroll_id)
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
        body = AuditPage(data=[self._entry(r) for r in rows], limit=filters.limit)
        if filters.page is not None:
            body.update(page=filters.page, total=total)
        else:
            body["scroll_id"] = str(rows[-1]["id"]) if len(rows) == filters.limit else None
        return body

    def _entry(self, r: dict) -> AuditEntry:
        return AuditEntry(
            id=r["id"], time=cdr.fmt_time(r["at"], self.tz), token_id=r["token_id"], tenant=r["tenant"] or "",
            client=r["client"] or "", action=AuditAction(r["action"]), call_id=r["call_id"] or "",
            extension=r["extension"] or "", target=r["target"] or "", status=r["status"], error=r["error"] or "",
            detail=json.loads(r["detail"]) if r["detail"] else {})
