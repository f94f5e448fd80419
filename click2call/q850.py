"""Q.850 release causes: the numbers Asterisk reports when a channel ends, and the names CRMs read in CDRs."""

from __future__ import annotations

NORMAL_CLEARING = 16
USER_BUSY = 17
SUBSCRIBER_ABSENT = 20
CALL_REJECTED = 21
# A leg that vanished while we could not see Asterisk (it restarted, or the channel was hung up unseen).
NETWORK_OUT_OF_ORDER = 38

NAMES = {
    0: "UNKNOWN", 1: "UNALLOCATED", 3: "NO_ROUTE_DESTINATION", 16: "NORMAL_CLEARING", 17: "USER_BUSY",
    18: "NO_USER_RESPONSE", 19: "NO_ANSWER", 20: "SUBSCRIBER_ABSENT", 21: "CALL_REJECTED",
    27: "DESTINATION_OUT_OF_ORDER", 28: "INVALID_NUMBER_FORMAT", 31: "NORMAL_UNSPECIFIED",
    32: "NORMAL_CIRCUIT_CONGESTION", 34: "NO_CIRCUIT_AVAILABLE", 38: "NETWORK_OUT_OF_ORDER",
    41: "NORMAL_TEMPORARY_FAILURE", 42: "SWITCH_CONGESTION", 58: "BEARERCAPABILITY_NOTAVAIL",
    102: "RECOVERY_ON_TIMER_EXPIRE", 127: "INTERWORKING",
}
BUSY = frozenset({USER_BUSY, CALL_REJECTED})
NO_ANSWER = frozenset({18, 19})


def name(cause: int | None) -> str:
    return "" if cause is None else NAMES.get(cause, f"CAUSE_{cause}")
