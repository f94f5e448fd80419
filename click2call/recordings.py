"""Call recordings: made by Asterisk (the bridge, mixed), fetched once through ARI into a local directory, and
served from there (Starlette's FileResponse answers HTTP Range requests). Retention removes them (retention.py): the
local copy and Asterisk's; the record stays, marked, and its recording answers 410 RECORDING_EXPIRED."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from .errors import ApiError
from .records import CallStore
from .states import CallStatus
from .stasis_app.ari import Ari, AriError
from .tenants import Tenant

log = logging.getLogger(__name__)
CALL_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Recordings:
    def __init__(self, directory: str, store: CallStore, aris: dict[str, Ari]) -> None:
        self.dir = Path(directory)
        self.store = store
        self.aris = aris  # a recording is fetched from the node its call ran on

    async def path(self, call_id: str, tenant: Tenant) -> Path:
        """The local wav of a call's recording, fetched from Asterisk on first use."""
        if not CALL_ID_RE.fullmatch(call_id):  # also keeps any path out of the file name
            raise ApiError("RECORDING_NOT_FOUND", "no recording for this id")
        record = await self.store.get(call_id)
        if record is None or record["call_id"] != call_id \
                or not tenant.sees_call(record["tenant"], record["extension"]):
            raise ApiError("RECORDING_NOT_FOUND", "no recording for this id")
        if not record["recording_url"]:
            why = (record or {}).get("recording_error")
            raise ApiError("RECORDING_NOT_FOUND", f"no recording for this call{': ' + why if why else ''}")
        local = self.dir / f"{call_id}.wav"
        if record.get("recording_removed_at") is not None:
            local.unlink(missing_ok=True)  # another replica's pass removed it: this replica's copy goes too
            raise ApiError("RECORDING_EXPIRED", "the recording of this call was removed by retention "
                                                "(C2C_RECORDING_RETENTION_DAYS); the call's record is kept")
        if local.exists():
            return local
        if record["status"] == CallStatus.IN_PROGRESS:
            raise ApiError("RECORDING_IN_PROGRESS", "the call is still being recorded")
        try:
            ari = self.aris.get(record["node"] or "") or next(iter(self.aris.values()))
            data = await ari.download(f"/recordings/stored/{call_id}/file")
        except AriError as exc:
            if exc.status == 404:
                raise ApiError("RECORDING_NOT_FOUND", "Asterisk has no stored recording for this call") from None
            raise ApiError("SERVICE_UNAVAILABLE", "cannot fetch the recording from Asterisk") from None
        self.dir.mkdir(parents=True, exist_ok=True)
        partial = local.with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, local)  # readers never see half a file
        return local

    async def remove(self, call_id: str, node: str | None) -> int:
        """Remove a recording: the local copy and Asterisk's stored one (best effort: a node that cannot be reached
        keeps its copy, logged). The local copy's size in bytes (0: none was fetched)."""
        local = self.dir / f"{call_id}.wav"
        try:
            size = local.stat().st_size
            local.unlink()
        except FileNotFoundError:
            size = 0
        ari = self.aris.get(node or "") or next(iter(self.aris.values()), None)
        if ari is not None:
            try:
                await ari.request("DELETE", f"/recordings/stored/{call_id}")
            except AriError as exc:
                if exc.status != 404:
                    log.warning("recording %s: Asterisk's stored copy not removed: %s", call_id, exc)
            except Exception as exc:  # unreachable: the file on Asterisk stays, the API answers 410 all the same
                log.warning("recording %s: Asterisk's stored copy not removed: %s: %s", call_id,
                            type(exc).__name__, exc)
        return size
