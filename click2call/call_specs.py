"""What a call is to be, every default resolved: the hotline and its trunk, caller IDs, timeouts, recording. The
same for API calls and dialplan handoffs; nothing here asks Asterisk."""

from __future__ import annotations

import uuid
from dataclasses import replace

from . import handoff
from .config import Settings
from .errors import ApiError
from .schema.click_to_call import ClickToCall
from .stasis_app.call_flow import CallSpec
from .tenants import Directory, Tenant


class CallSpecs:
    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.settings = settings
        self.directory = directory
        self._trunks = settings.trunks()

    def spec(self, req: ClickToCall, call_id: str, tenant: Tenant) -> CallSpec:
        """The call as placed, defaults resolved (ApiError for an extension or hotline the tenant may not use)."""
        if req.ext in self._trunks:  # a hotline trunk is not an agent: never ring the carrier as "extension"
            raise ApiError("EXTENSION_NOT_FOUND", f"extension {req.ext} does not exist")
        tenant.check_own(req.ext)  # before anything asks Asterisk about it (an agent token: its own only)
        hotline = tenant.hotline(req.hotline)
        settings = self.settings
        return CallSpec(
            call_id=call_id,
            tenant=tenant.name,
            ext=req.ext,
            phone=req.phone,
            hotline=hotline.number,
            trunk=hotline.trunk,
            src_cid_name=req.src_cid_name,
            src_cid_number=req.src_cid_number or req.ext,
            dest_cid_name=req.dest_cid_name,
            dest_cid_number=req.dest_cid_number or hotline.number,
            auto_answer=req.auto_answer,
            ring_timeout=settings.ring_timeout,
            dial_timeout=settings.dial_timeout,
            customer_id=req.customer_id,
            recording_url=f"{settings.public_url}/v1/recordings/{call_id}"
            if (settings.record if req.record is None else req.record) else None,
        )

    def handoff_spec(self, channel: dict, args: list[str]) -> CallSpec:
        """A dialplan handoff, with the same validation and defaults as the API (see click2call.handoff).
        It belongs to the tenant whose extension placed it."""
        found = handoff.parse(channel, args)
        req = ClickToCall(ext=found.ext, phone=found.phone, hotline=found.hotline)
        tenant = self.directory.owner_of(found.ext)
        return replace(self.spec(req, str(uuid.uuid4()), tenant), agent_channel=channel["id"])
