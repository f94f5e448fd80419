"""What the unit tests build their calls from (imported by them; no test module imports another)."""

from click2call.stasis_app import call_flow as flow

SPEC = flow.CallSpec(
    call_id="c1", ext="101", phone="0899098899", hotline="02873000001", trunk="trunk-a",
    src_cid_name="Click2Call", src_cid_number="101", dest_cid_name=None, dest_cid_number="02873000001",
    auto_answer=False, ring_timeout=30, dial_timeout=60,
)
