"""Pure parts of call records: final status, cause, the row a state becomes, CDR filters."""

from zoneinfo import ZoneInfo

import pytest

from click2call import cdr, records
from click2call.errors import ApiError
from click2call.stasis_app import call_flow as flow
from click2call.stasis_app.call_flow import Answered, ChannelGone, HangupRequested, Originated, Start

from .factories import SPEC

UTC = ZoneInfo("UTC")


def play(*events):
    state = flow.CallState(SPEC, created_at=1000.0)
    for event in events:
        state, _ = flow.transition(state, event)
    return state


ANSWERED = (Start(), Originated(1000.1), Answered("agent", 1002.0, "a-sip"), Answered("customer", 1005.0, "c-sip"))


def test_answered_call_row():
    state = play(*ANSWERED, ChannelGone("customer", 0, "Unknown", 1065.4), ChannelGone("agent", 16, "", 1065.5))
    row = records.row(state)
    assert row["status"] == "ANSWERED" and row["hangup_by"] == "customer"
    assert (row["cause"], row["cause_txt"]) == (16, "NORMAL_CLEARING")  # a BYE after answer
    assert (row["duration"], row["billsec"]) == (66, 60)
    assert (row["agent_sip_call_id"], row["customer_sip_call_id"]) == ("a-sip", "c-sip")
    assert row["phase"] == "ended" and row["phase_rank"] == records.PHASE_RANK[flow.Phase.ENDED]


@pytest.mark.parametrize("events,status,cause", [
    ((Start(), Originated(1), ChannelGone("agent", 17, "", 2)), "BUSY", "USER_BUSY"),
    ((Start(), Originated(1), ChannelGone("agent", 21, "", 2)), "BUSY", "CALL_REJECTED"),
    ((Start(), Originated(1), ChannelGone("agent", 19, "", 2)), "NO_ANSWER", "NO_ANSWER"),
    ((Start(), Originated(1), ChannelGone("agent", 34, "", 2)), "FAILED", "NO_CIRCUIT_AVAILABLE"),
    ((Start(), Originated(1), HangupRequested(), ChannelGone("agent", 16, "", 2)), "CANCELLED", "NORMAL_CLEARING"),
    ((*ANSWERED[:3], ChannelGone("customer", 17, "", 9), ChannelGone("agent", 16, "", 9)), "BUSY", "USER_BUSY"),
    ((*ANSWERED[:3], ChannelGone("customer", 19, "", 9), ChannelGone("agent", 16, "", 9)), "NO_ANSWER", "NO_ANSWER"),
    ((*ANSWERED[:3], ChannelGone("agent", 0, "", 9), ChannelGone("customer", 16, "", 9)), "CANCELLED", "NORMAL_CLEARING"),
    ((*ANSWERED, HangupRequested(), ChannelGone("agent", 16, "", 1009), ChannelGone("customer", 16, "", 1009)),
     "ANSWERED", None),
])
def test_final_status_and_cause(events, status, cause):
    row = records.row(play(*events))
    assert row["status"] == status
    if cause:
        assert row["cause_txt"] == cause
    assert row["billsec"] == (4 if status == "ANSWERED" else 0)


def test_in_progress_row_has_no_final_fields():
    row = records.row(play(*ANSWERED))
    assert "status" not in row and "ended_at" not in row and row["answered_at"] == 1005.0


def test_cdr_filters_are_validated():
    q = cdr.parse_query({"start_date": "2026-11-27", "end_date": "2026-11-27 10:00:00", "status": "busy",
                         "limit": "10", "page": "2"}, UTC)
    assert (q.limit, q.page, len(q.where)) == (10, 2, 3)
    for bad in ({"start_date": "27/11/2026"}, {"status": "X"}, {"limit": "501"}, {"page": "0"},
                {"customer_id": "a b"}, {"scroll_id": "bm90IGpzb24"},
                {"end_date": "9999-12-31"}, {"start_date": "0001-01-01 00:00:00"}):  # a day past 9999 overflowed: 500
        with pytest.raises(ApiError) as exc:
            cdr.parse_query(bad, UTC)
        assert exc.value.status == 400


def test_cursor_round_trip():
    cursor = cdr.encode_cursor({"created_at": 1700000000.25, "call_id": "abc"})
    assert cdr.decode_cursor(cursor) == (1700000000.25, "abc")


def test_times_in_the_configured_zone():
    assert cdr.fmt_time(1767225600, ZoneInfo("Asia/Ho_Chi_Minh")) == "2026-01-01 07:00:00"
    assert cdr.fmt_time(0, UTC) == "1970-01-01 00:00:00"
    assert cdr.fmt_time(None, UTC) == ""
