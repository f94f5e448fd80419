"""The edge that turns call-flow commands into ARI requests.

Each command's outcome that the flow must know comes back as a follow-up event.
"""

from __future__ import annotations

import logging
import time

from .. import q850
from . import call_flow as flow
from . import inbound_flow as inbound
from . import supervision as supervise
from . import transfers as xfer
from ..states import HangupBy, Party
from . import recording_check
from .ari import Ari, AriError, AriUnavailable

log = logging.getLogger(__name__)

AUTO_ANSWER_HEADERS = {
    # Yealink, Grandstream, Snom, Zoiper and most softphones honour one of these two.
    "PJSIP_HEADER(add,Call-Info)": "<sip:auto-answer.invalid>;answer-after=0",
    "PJSIP_HEADER(add,Alert-Info)": "info=alert-autoanswer",
}


# A REFER from the agent's phone (its Transfer key) is handed to the app as a ChannelTransfer event, not carried out
# by Asterisk's core inside our bridge (chan_pjsip reads only the value; the argument is ignored).
REFER_TO_APP = {"PJSIP_TRANSFER_HANDLING()": "ari-only"}


def caller_id(name: str | None, number: str) -> str:
    # Names were validated (no quotes, no angle brackets), so quoting is safe.
    return f'"{name}" <{number}>' if name else f"<{number}>"


def originate_params(spec: flow.CallSpec, app: str, context: str = "") -> tuple[dict, dict]:
    """The agent leg: into the app when it answers; with `context`, into that dialplan context, which hands it to
    the app (asterisk-conf/extensions.conf [click2call-stasis]: it enters again while no replica runs the app)."""
    params = {
        "endpoint": f"PJSIP/{spec.ext}",
        "channelId": spec.channel_id(Party.AGENT),
        "callerId": caller_id(spec.src_cid_name, spec.src_cid_number),
        "timeout": spec.ring_timeout,
    }
    # The call_id on the agent's INVITE lets a softphone or CRM plug-in match the ring to the click.
    variables = {"PJSIP_HEADER(add,X-Click2Call-Id)": spec.call_id, **REFER_TO_APP}
    if context:
        params.update(context=context, extension="s", priority=1)
        variables["C2C_APP"] = app
    else:
        params.update(app=app, appArgs=Party.AGENT)
    if spec.auto_answer:
        variables.update(AUTO_ANSWER_HEADERS)
    return params, {"variables": variables}


BEEP = "sound:beep"  # Asterisk's core sounds: what an agent hears when a supervisor joins (C2C_SUPERVISION_BEEP)


class Executor:
    def __init__(self, ari: Ari, agent_context: str = "", supervision_beep: bool = False) -> None:
        self.ari = ari
        self.agent_context = agent_context  # a dialplan context that hands agent legs to the app; "": directly
        self.supervision_beep = supervision_beep

    async def originate(self, spec: flow.CallSpec) -> flow.Event | list[flow.Event]:
        params, body = originate_params(spec, self.ari.app, self.agent_context)
        try:
            await self.ari.request("POST", "/channels", params=params, body=body)
        except AriUnavailable as exc:
            return flow.OriginateFailed("SERVICE_UNAVAILABLE", exc.message)
        except AriError as exc:
            if exc.status == 500 and "Allocation failed" in exc.message:
                return flow.OriginateFailed("USER_NOT_REGISTERED", "User not registered extension with Softphone or IP Phone")
            return flow.OriginateFailed("CALL_FAILED", exc.message)
        if self.agent_context:
            # Originated into the dialplan, the leg is the app's only while in Stasis(): without a subscription its
            # ringing before the answer, and its end after it left Stasis() (ChannelDestroyed), would go unseen.
            try:
                await self.ari.request("POST", f"/applications/{self.ari.app}/subscription",
                                       params={"eventSource": f"channel:{params['channelId']}"})
                channel = await self.ari.request("GET", f"/channels/{params['channelId']}")
            except AriError as exc:
                log.warning("call %s: agent leg's events not subscribed: %s", spec.call_id, exc)
            else:
                if channel and channel.get("state") in ("Ring", "Ringing"):  # it rang before the subscription
                    return [flow.Originated(time.time()),
                            flow.Ringing(Party.AGENT, time.time(), channel.get("protocol_id") or "")]
        return flow.Originated(time.time())

    async def ensure_bridge(self, bridge_id: str) -> None:
        """The call's mixing bridge. One that exists already is ours (its id derives from the call_id): made by this
        call before, e.g. by the replica that ran it until it handed the node over."""
        try:
            await self.ari.request("POST", f"/bridges/{bridge_id}", params={"type": "mixing"})
        except AriError as exc:
            if exc.status != 409:
                raise

    async def create_customer(self, spec: flow.CallSpec) -> flow.Event | None:
        try:
            await self.ensure_bridge(spec.bridge_id)
            await self.ari.request(
                "POST", "/channels/create",
                params={"endpoint": f"PJSIP/{spec.phone}@{spec.trunk}", "app": self.ari.app,
                        "channelId": spec.channel_id(Party.CUSTOMER), "appArgs": Party.CUSTOMER},
            )
        except AriError as exc:
            if exc.status == 409:  # it exists: ours (its id derives from the call_id), made by the replica that ran
                return await self._customer_as_it_is(spec)  # the call until it handed the node over
            log.warning("call %s: customer leg not created: %s", spec.call_id, exc)
            return flow.CustomerFailed(exc.message, channel_exists=False)
        return None

    async def _customer_as_it_is(self, spec: flow.CallSpec) -> flow.Event:
        """The customer leg another replica created: where it got to (its StasisStart went to that replica)."""
        try:
            channel = await self.ari.request("GET", f"/channels/{spec.channel_id(Party.CUSTOMER)}")
        except AriError as exc:
            log.warning("call %s: customer leg made before the hand-over not read: %s", spec.call_id, exc)
            return flow.CustomerFailed(exc.message, channel_exists=exc.status != 404)
        state, sip = (channel or {}).get("state"), (channel or {}).get("protocol_id") or ""
        if state == "Up":
            return flow.Answered(Party.CUSTOMER, time.time(), sip)
        if state in ("Ring", "Ringing"):
            return flow.Ringing(Party.CUSTOMER, time.time(), sip)
        return flow.CustomerReady()  # created, not dialled yet

    async def dial_customer(self, spec: flow.CallSpec) -> flow.Event | None:
        agent, customer = spec.channel_id(Party.AGENT), spec.channel_id(Party.CUSTOMER)
        try:
            await self.ari.request("POST", f"/bridges/{spec.bridge_id}/addChannel", params={"channel": f"{agent},{customer}"})
            # chan_pjsip builds the customer's From and P-Asserted-Identity from the connected line, and joining
            # the bridge set it to the agent's: set it after addChannel, before dial.
            await self.ari.request(
                "POST", f"/channels/{customer}/variable",
                params={"variable": "CONNECTEDLINE(all)", "value": caller_id(spec.dest_cid_name, spec.dest_cid_number)},
            )
            await self.ari.request("POST", f"/channels/{customer}/dial", params={"timeout": spec.dial_timeout})
        except AriError as exc:
            log.warning("call %s: customer leg not dialled: %s", spec.call_id, exc)
            return flow.CustomerFailed(exc.message, channel_exists=True)
        return None

    async def start_recording(self, spec: flow.CallSpec) -> flow.Event:
        try:
            await self.ari.request("POST", f"/bridges/{spec.bridge_id}/record", params={
                "name": spec.call_id, "format": "wav", "ifExists": "overwrite", "beep": "false",
                "terminateOn": "none"})
        except AriError as exc:
            reason = await recording_check.explain(self.ari, exc)
            log.warning("call %s: recording not started: %s", spec.call_id, reason)
            return flow.RecordingFailed(reason[:255])
        return flow.RecordingStarted()

    async def answer(self, channel_id: str) -> None:
        try:
            await self.ari.request("POST", f"/channels/{channel_id}/answer")
        except AriError as exc:  # the channel may be gone already: its ChannelDestroyed ends the call
            log.warning("answer %s failed: %s", channel_id, exc)

    async def refer_to_app(self, channel_id: str) -> None:
        """A handed-off agent leg (not originated by us): its phone's REFER to the app too, as REFER_TO_APP does."""
        [(variable, value)] = REFER_TO_APP.items()
        try:
            await self.ari.request("POST", f"/channels/{channel_id}/variable",
                                   params={"variable": variable, "value": value})
        except AriError as exc:  # not a PJSIP channel, or gone: its phone's Transfer stays Asterisk's
            log.warning("transfer handling of %s not set: %s", channel_id, exc)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._delete(f"/channels/{channel_id}", {"reason": reason})

    # ---- call control (AriError propagates: the control's waiter is told) ----

    async def bridge_channel(self, bridge_id: str, channel_id: str, add: bool) -> None:
        await self.ari.request("POST", f"/bridges/{bridge_id}/{'addChannel' if add else 'removeChannel'}",
                               params={"channel": channel_id})

    async def moh(self, channel_id: str, on: bool) -> None:
        await self.ari.request("POST" if on else "DELETE", f"/channels/{channel_id}/moh")

    async def mute(self, channel_id: str, on: bool) -> None:
        # direction "in": what the party says is dropped on its way in, so nobody in the call hears it
        await self.ari.request("POST" if on else "DELETE", f"/channels/{channel_id}/mute", params={"direction": "in"})

    async def dtmf(self, channel_id: str, digits: str) -> None:
        await self.ari.request("POST", f"/channels/{channel_id}/dtmf", params={"dtmf": digits})

    # ---- supervision (AriError propagates, as for call control) ----

    async def ring_supervisor(self, call_id: str, index: int, ext: str, caller: str) -> None:
        await self.ari.request("POST", "/channels", params={
            "endpoint": f"PJSIP/{ext}", "app": self.ari.app, "appArgs": "supervisor",
            "channelId": supervise.supervisor_channel(call_id, index), "callerId": caller_id("Supervise", caller)},
            body={"variables": {"PJSIP_HEADER(add,X-Click2Call-Id)": call_id}})

    async def snoop(self, agent_channel: str, channel: str, whisper: bool) -> None:
        await self.ari.request("POST", f"/channels/{agent_channel}/snoop", params={
            "spy": "both", "whisper": "out" if whisper else "none", "app": self.ari.app, "appArgs": "snoop",
            "snoopId": channel})

    async def open_room(self, bridge_id: str) -> None:
        await self.ensure_bridge(bridge_id)

    # ---- transfers: the target's leg (an AriError in creating or dialling it is the transfer's failure) ----

    async def create_target(self, command: xfer.CreateTarget) -> xfer.Event | None:
        try:
            await self.ari.request("POST", "/channels/create", params={
                "endpoint": command.endpoint, "app": self.ari.app, "channelId": command.channel,
                "appArgs": "transfer"})
        except AriError as exc:
            log.warning("transfer target %s not created: %s", command.channel, exc)
            return xfer.TargetFailed(command.n, exc.message or str(exc), channel_exists=False)
        return None  # its StasisStart (TargetReady) follows at once

    async def dial_target(self, command: xfer.DialTarget) -> xfer.Event | None:
        try:
            if command.bridge:  # blind: the moving party hears the target's ringback through the bridge
                await self.bridge_channel(command.bridge, command.channel, add=True)
            # As for the customer leg: the connected line (From, P-Asserted-Identity) is set after the bridge join
            await self.ari.request("POST", f"/channels/{command.channel}/variable",
                                   params={"variable": "CONNECTEDLINE(all)", "value": command.caller_id})
            await self.ari.request("POST", f"/channels/{command.channel}/dial", params={"timeout": command.timeout})
        except AriError as exc:
            log.warning("transfer target %s not dialled: %s", command.channel, exc)
            return xfer.TargetFailed(command.n, exc.message or str(exc), channel_exists=True)
        return None

    async def transfer_progress(self, channel_id: str, state: str) -> None:
        try:
            await self.ari.request("POST", f"/channels/{channel_id}/transfer_progress", params={"states": state})
        except AriError as exc:  # the phone is gone: nobody to tell
            log.warning("transfer_progress %s on %s failed: %s", state, channel_id, exc)

    # ---- inbound calls ----

    async def ring(self, channel_id: str) -> None:
        """The caller hears ringing (180 to the carrier), unanswered: nobody pays for the ringing."""
        try:
            await self.ari.request("POST", f"/channels/{channel_id}/ring")
        except AriError as exc:  # gone already: its hang-up ends the call
            log.warning("ring %s failed: %s", channel_id, exc)

    async def ring_agent(self, spec: inbound.InboundSpec, index: int, ext: str, timeout: int) -> inbound.Event | None:
        """Originate an agent's leg into the app; its answer is its StasisStart. The agent sees the caller's
        number, and the call_id in X-Click2Call-Id (a softphone plug-in pops the caller's record with it)."""
        params = {"endpoint": f"PJSIP/{ext}", "app": self.ari.app, "appArgs": "agent",
                  "channelId": spec.agent_channel(index), "timeout": timeout,
                  "callerId": caller_id(spec.caller_name or None, spec.caller or "anonymous")}
        body = {"variables": {"PJSIP_HEADER(add,X-Click2Call-Id)": spec.call_id, **REFER_TO_APP}}
        try:
            await self.ari.request("POST", "/channels", params=params, body=body)
        except AriError as exc:
            log.warning("call %s: agent %s not rung: %s", spec.call_id, ext, exc)
            absent = exc.status == 500 and "Allocation failed" in exc.message
            cause = q850.SUBSCRIBER_ABSENT if absent else q850.NETWORK_OUT_OF_ORDER
            return inbound.AgentGone(index, cause, exc.message[:64], time.time())
        return None

    async def connect(self, spec: inbound.InboundSpec, index: int) -> inbound.Event:
        """Answer the caller (only now: an agent took the call) and bridge it with that agent."""
        try:
            await self.ari.request("POST", f"/channels/{spec.channel}/answer")
            await self.ensure_bridge(spec.bridge_id)
            await self.ari.request("POST", f"/bridges/{spec.bridge_id}/addChannel",
                                   params={"channel": f"{spec.channel},{spec.agent_channel(index)}"})
        except AriError as exc:
            log.warning("call %s: caller and agent not bridged: %s", spec.call_id, exc)
            return inbound.ConnectFailed(exc.message)
        return inbound.Connected(time.time())

    async def play(self, channel_id: str, sound: str) -> inbound.Event | None:
        """Answer the caller and play the group's prompt; PlaybackFinished (PromptDone) follows."""
        try:
            await self.ari.request("POST", f"/channels/{channel_id}/answer")
            await self.ari.request("POST", f"/channels/{channel_id}/play", params={"media": f"sound:{sound}"})
        except AriError as exc:
            log.warning("prompt %s on %s not played: %s", sound, channel_id, exc)
            return inbound.PromptDone()
        return None

    async def announce_supervisor(self, agent_channel: str) -> None:
        """A supervisor joined: a beep to the agent alone (played to its channel, not into the bridge)."""
        if not self.supervision_beep:
            return
        try:
            await self.ari.request("POST", f"/channels/{agent_channel}/play", params={"media": BEEP})
        except AriError as exc:
            log.warning("supervision beep on %s not played: %s", agent_channel, exc)

    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str, priority: int
                                   ) -> inbound.Event | None:
        try:
            await self.ari.request("POST", f"/channels/{channel_id}/continue",
                                   params={"context": context, "extension": extension, "priority": priority})
        except AriError as exc:
            log.warning("%s not continued to %s,%s,%s: %s", channel_id, context, extension, priority, exc)
            return flow.HangupRequested(HangupBy.SYSTEM)  # it cannot go on: hang it up rather than leave it ringing
        return None

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._delete(f"/bridges/{bridge_id}", None)

    async def _delete(self, path: str, params: dict | None) -> None:
        try:
            await self.ari.request("DELETE", path, params=params)
        except AriError as exc:
            if exc.status != 404:  # 404: already gone, which is what we wanted
                log.warning("DELETE %s failed: %s", path, exc)
