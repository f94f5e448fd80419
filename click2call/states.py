"""The names that cross module boundaries: a call's status, its parties, who hung up, a webhook event, a
delivery's status. StrEnums, so that they are the very strings stored in the database and sent in JSON."""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    ANSWERED = "ANSWERED"  # the customer answered
    BUSY = "BUSY"  # agent or customer busy or declined
    NO_ANSWER = "NO_ANSWER"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # hung up before the customer answered, by the agent or the API


FINAL_STATUSES = tuple(s for s in CallStatus if s is not CallStatus.IN_PROGRESS)


class Party(StrEnum):
    """A leg of a call, named for who is on it."""

    AGENT = "agent"
    CUSTOMER = "customer"


class HangupBy(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    API = "api"
    SYSTEM = "system"  # neither party: the PBX lost the leg (e.g. Asterisk restarted), a park nobody picked up


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"  # a customer called a hotline; a ring group's agents were rung


class EventName(StrEnum):
    """What a webhook subscribes to."""

    RINGING = "ringing"
    ANSWERED = "answered"
    HANGUP = "hangup"
    CDR = "cdr"
    MISSED = "missed"  # an inbound call ended unanswered
    SUPERVISION = "supervision"  # a supervisor started, switched or ended listening, whispering or barging
    TRANSFER = "transfer"  # a transfer started, its target answered, or it failed


# Not sent to a hook that receives every event (C2C_WEBHOOK_URL): only to hooks that subscribe to them by name.
BY_NAME_ONLY = frozenset({EventName.SUPERVISION})


class CallAction(StrEnum):
    """What the API (or a phone) does to a connected call (POST /v1/call/{call_id}/<action>)."""

    HOLD = "hold"  # the party hears music on hold, out of the conversation
    UNHOLD = "unhold"
    MUTE = "mute"  # the party's audio no longer reaches the others
    UNMUTE = "unmute"
    DTMF = "dtmf"  # digits sent to the party (RFC 4733)
    LISTEN = "listen"  # a supervisor hears both parties; nobody hears it
    WHISPER = "whisper"  # ... and only the agent hears it
    BARGE = "barge"  # all three hear each other
    TRANSFER = "transfer"  # a party goes on with another extension or number (blind or attended)
    PARK = "park"  # the other party leaves; this one hears music until a transfer picks it up


SUPERVISE = (CallAction.LISTEN, CallAction.WHISPER, CallAction.BARGE)


class Side(StrEnum):
    """TEL4VN's names of a call's parties in call control: `aleg` the agent's side, `bleg` the customer's."""

    ALEG = "aleg"
    BLEG = "bleg"

    @property
    def party(self) -> "Party":
        return Party.AGENT if self is Side.ALEG else Party.CUSTOMER


class RingStrategy(StrEnum):
    """How a ring group rings its agents."""

    RINGALL = "ringall"  # all at once
    SEQUENTIAL = "sequential"  # in the group's order, ring_seconds each
    LONGEST_IDLE = "longest_idle"  # the agent idle longest first, ring_seconds each


class NoAnswer(StrEnum):
    """What a ring group does with a caller nobody answered."""

    HANGUP = "hangup"  # after its prompt, if it has one
    CONTINUE = "continue"  # to a dialplan context (voicemail, an IVR)


class AgentEvent(StrEnum):
    """What the live stream tells of an agent (beside the call events)."""

    REGISTERED = "registered"
    UNREGISTERED = "unregistered"
    PAUSED = "paused"
    RESUMED = "resumed"
    STATE = "state"  # its call state changed (AgentCallState)


class AgentCallState(StrEnum):
    """TEL4VN's call_state of an agent in GET /v1/monitor/agent."""

    IDLE = "IDLE"
    RINGING = "RINGING"
    ONCALL = "ONCALL"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent: new, waiting for a retry, or being sent
    DELIVERED = "delivered"
    FAILED = "failed"  # given up: a 4xx, too old, or the hook was disabled


class Scope(StrEnum):
    """What a token may do (tenants file, C2C_API_TOKENS); a token without scopes may do everything its tenant may.
    Each API operation needs one (http/routes.py)."""

    CALLS_WRITE = "calls:write"  # click-to-call (sync, async, v2), hangup
    CALLS_READ = "calls:read"  # calls in progress, CDRs, statistics, the live stream, the agents' monitor
    RECORDINGS_READ = "recordings:read"
    CONTROL = "control"  # transfer, park, hold, unhold, mute, unmute, DTMF
    SUPERVISE = "supervise"  # listen, whisper, barge
    AGENTS_WRITE = "agents:write"  # pause, resume
    HOOKS_READ = "hooks:read"  # list hooks, a hook's deliveries
    HOOKS_WRITE = "hooks:write"  # create and delete hooks, resend a delivery
    ADMIN = "admin"  # the cluster's state (the operator's tokens), the audit trail


# An agent token (bound to one extension) has these unless configured narrower; never the others.
AGENT_SCOPES = frozenset({Scope.CALLS_WRITE, Scope.CALLS_READ, Scope.RECORDINGS_READ, Scope.CONTROL,
                          Scope.AGENTS_WRITE})


class StatsGroupBy(StrEnum):
    """How GET /v1/stats groups calls: periods in C2C_TIMEZONE, or a column's values."""

    HOUR = "hour"
    DAY = "day"
    HOTLINE = "hotline"
    EXTENSION = "extension"  # the agent: an outbound call's, the agent who answered an inbound one
    TENANT = "tenant"  # the operator's tokens only


class AuditAction(StrEnum):
    """A state-changing request, as the audit trail names it."""

    CLICK_TO_CALL = "click_to_call"
    HANGUP = "hangup"
    TRANSFER = "transfer"
    PARK = "park"
    HOLD = "hold"
    UNHOLD = "unhold"
    MUTE = "mute"
    UNMUTE = "unmute"
    DTMF = "dtmf"
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"
    PAUSE = "pause"
    RESUME = "resume"
    HOOK_CREATE = "hook_create"
    HOOK_DELETE = "hook_delete"
    DELIVERY_RESEND = "delivery_resend"
    SESSION_CREATE = "session_create"  # a web console's sign-in (console_session.py)
    SESSION_DELETE = "session_delete"  # its sign-out


class Kept(StrEnum):
    """What retention removes (retention.py), as its settings and metrics name it."""

    RECORDS = "records"  # finished calls' records (with their recordings and requests)
    RECORDINGS = "recordings"  # a recording's file; its record stays, marked (410 RECORDING_EXPIRED)
    DELIVERED = "delivered_deliveries"  # webhook deliveries delivered, with their attempts
    FAILED = "failed_deliveries"  # webhook deliveries given up, with their attempts
    ATTEMPTS = "delivery_attempts"  # (counted apart; they go with their delivery)
    WEBHOOK_EVENTS = "webhook_events"  # an outbox event no delivery refers to any more
    STREAM_EVENTS = "stream_events"  # the live stream's log
    AUDIT = "audit"
    CALL_REQUESTS = "call_requests"  # (they go with their call's record)
