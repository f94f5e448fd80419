"""Can Asterisk record? A stock Debian Asterisk has no `<astspooldir>/recording` directory, and ARI then answers
every recording with a bare 500. Say what to create, and where, instead."""

from __future__ import annotations

import asyncio
import logging
import uuid

from .ari import Ari, AriError

log = logging.getLogger(__name__)

PROBE_PREFIX = "click2call-recording-check-"  # never a call's id: those end in .agent, .customer, .bridge


async def recording_dir(ari: Ari) -> str:
    """Where Asterisk keeps recordings (`astspooldir` in asterisk.conf, then /recording), or a description of it."""
    try:
        found = await ari.request("GET", "/asterisk/variable", params={"variable": "ASTSPOOLDIR"})
        spool = (found or {}).get("value") or ""
    except AriError:
        spool = ""
    return f"{spool}/recording" if spool else "<astspooldir>/recording (astspooldir is set in asterisk.conf)"


def advice(directory: str) -> str:
    return f"create {directory}, writable by the user Asterisk runs as (e.g. install -d -o asterisk -g asterisk " \
           f"{directory})"


async def explain(ari: Ari, exc: AriError) -> str:
    """A refused recording, with the likely fix when Asterisk gives only its bare 500."""
    said = f"ARI {exc.status}: {exc.message}"
    if exc.status != 500:
        return said
    return f"Asterisk could not record ({said}): {advice(await recording_dir(ari))}"


async def check(ari: Ari) -> bool:
    """Record a few milliseconds of an empty bridge and throw it away: what every recorded call will need.
    Logs a warning naming the fix when Asterisk cannot, and returns whether it could."""
    name = PROBE_PREFIX + uuid.uuid4().hex
    try:
        await ari.request("POST", f"/bridges/{name}", params={"type": "mixing"})
        try:
            await ari.request("POST", f"/bridges/{name}/record", params={
                "name": name, "format": "wav", "ifExists": "overwrite", "beep": "false"})
            await asyncio.sleep(0.05)
            await ari.request("POST", f"/recordings/live/{name}/stop")
            await ari.request("DELETE", f"/recordings/stored/{name}")
        finally:
            await ari.request("DELETE", f"/bridges/{name}")
    except AriError as exc:
        log.warning("C2C_RECORD is on, but Asterisk cannot record: %s", await explain(ari, exc))
        return False
    log.info("Asterisk can record (checked at start: C2C_RECORD is on)")
    return True


async def check_when_connected(ari: Ari) -> None:
    await ari.connected.wait()
    try:
        await check(ari)
    except Exception:  # a check that cannot run must not stop the service
        log.exception("could not check that Asterisk can record")
