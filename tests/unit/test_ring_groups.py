"""Ring groups as configured (the tenants file's [[tenant.group]], C2C_GROUPS_FILE's [[group]]), and an inbound call
handed over by the dialplan: its Stasis arguments and channel validated before anything reaches a dial string."""

from __future__ import annotations

import pytest

from click2call.config import ConfigError, Settings
from click2call.errors import ApiError
from click2call.inbound_calls import InboundCalls, trunk_of
from click2call.states import NoAnswer, RingStrategy
from click2call.tenants import hash_token

BASE = {"C2C_API_TOKENS": "operator-token-0123456789", "C2C_HOTLINES": "02873000001=trunk-a,02873000002=trunk-b"}
TENANTS = f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token('acme-token-0123456789abcdef')}"]
extensions = ["101", "102", "103"]
hotlines = ["02873000001"]
  [[tenant.group]]
  name = "acme-sales"
  extensions = ["101", "102"]
  strategy = "sequential"
  ring_seconds = 10
  hotlines = ["02873000001"]
  sticky_days = 7
"""
GROUPS = """
[[group]]
name = "support"
extensions = ["110", "111"]
strategy = "longest_idle"
timeout = 45
no_answer = "continue"
continue_to = "voicemail,s,1"
hotlines = ["02873000002"]
"""


def settings(tmp_path, tenants: str | None = TENANTS, groups: str | None = GROUPS) -> Settings:
    env = dict(BASE)
    if tenants is not None:
        (tmp_path / "tenants.toml").write_text(tenants)
        env["C2C_TENANTS_FILE"] = str(tmp_path / "tenants.toml")
    if groups is not None:
        (tmp_path / "groups.toml").write_text(groups)
        env["C2C_GROUPS_FILE"] = str(tmp_path / "groups.toml")
    return Settings.from_env(env)


def test_groups_of_tenants_and_of_the_operator(tmp_path):
    directory = settings(tmp_path).directory()
    sales = directory.group("acme-sales")
    assert (sales.tenant, sales.extensions, sales.strategy, sales.ring_seconds, sales.sticky_days) == (
        "acme", ("101", "102"), RingStrategy.SEQUENTIAL, 10, 7)
    support = directory.group_of_hotline("02873000002")
    assert (support.name, support.tenant, support.no_answer, support.continue_to, support.timeout) == (
        "support", None, NoAnswer.CONTINUE, ("voicemail", "s", 1), 45)
    assert directory.group_of_hotline("02873000001") is sales
    assert directory.group("nope") is None


@pytest.mark.parametrize("groups, why", [
    ("[[group]]\nname='a b'\nextensions=['101']", "letters, digits"),
    ("[[group]]\nname='g'\nextensions=[]", "extensions"),
    ("[[group]]\nname='g'\nextensions=['10&1']", "extensions"),
    ("[[group]]\nname='g'\nextensions=['101','101']", "listed twice"),
    ("[[group]]\nname='g'\nextensions=['101']\nstrategy='random'", "strategy"),
    ("[[group]]\nname='g'\nextensions=['101']\nno_answer='continue'", "needs continue_to"),
    ("[[group]]\nname='g'\nextensions=['101']\nno_answer='continue'\ncontinue_to='vm;x,s,1'", "context,extension"),
    ("[[group]]\nname='g'\nextensions=['101']\nprompt='../../etc/passwd'", "sound"),
    ("[[group]]\nname='g'\nextensions=['101']\ntimeout=1", "timeout"),
    ("[[group]]\nname='g'\nextensions=['101']\nhotlines=['0999']", "not configured"),
    ("[[group]]\nname='g'\nextensions=['101']\ncolour='red'", "colour"),
    ("[[group]]\nname='g'\nextensions=['101']\n[[group]]\nname='g'\nextensions=['102']", "defined twice"),
    ("[[group]]\nname='g'\nextensions=['101']\nhotlines=['02873000002']\n"
     "[[group]]\nname='h'\nextensions=['102']\nhotlines=['02873000002']", "rings two groups"),
    ("[[group]]\nname='acme-sales'\nextensions=['101']", "defined twice"),  # the tenants file has it
])
def test_a_broken_group_stops_the_start(tmp_path, groups, why):
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, groups=groups)
    assert why in str(exc.value)


@pytest.mark.parametrize("group, why", [
    ("extensions = ['104']", "extension 104 is not one of the tenant's"),
    ("extensions = ['101']\n  hotlines = ['02873000002']", "hotline 02873000002 is not one of the tenant's"),
])
def test_a_tenants_group_is_its_own(tmp_path, group, why):
    text = TENANTS.split("  [[tenant.group]]")[0] + f"  [[tenant.group]]\n  name = 'x'\n  {group}\n"
    with pytest.raises(ConfigError, match=why):
        settings(tmp_path, tenants=text, groups=None)


def channel(exten="02873000001", number="0899098899", name="Nguyễn Văn A", channel_name="PJSIP/trunk-a-0000002a"):
    return {"id": "1795752289.12", "name": channel_name, "protocol_id": "abc@127.0.0.1",
            "caller": {"number": number, "name": name}, "dialplan": {"exten": exten}}


@pytest.fixture
def inbound(tmp_path) -> InboundCalls:
    return InboundCalls(settings(tmp_path).directory(), engine=None, aris={}, ring_seconds=25)


def test_the_hotline_dialled_picks_the_group(inbound):
    spec = inbound.inbound_spec(channel(), ["inbound"], "c1")
    assert (spec.group.name, spec.tenant, spec.hotline, spec.caller, spec.caller_name, spec.trunk, spec.channel) == (
        "acme-sales", "acme", "02873000001", "0899098899", "Nguyễn Văn A", "trunk-a", "1795752289.12")


def test_a_target_names_a_group_or_an_extension(inbound):
    assert inbound.inbound_spec(channel(), ["inbound", "group:support"], "c1").group.name == "support"
    one = inbound.inbound_spec(channel(exten="s"), ["inbound", "103"], "c1").group
    assert (one.extensions, one.tenant, one.timeout, one.name) == (("103",), "acme", 25, "")
    # a group's name is never taken for an extension, nor the other way round
    with pytest.raises(ApiError, match="no ring group named 'sales'"):
        inbound.inbound_spec(channel(), ["inbound", "group:sales"], "c1")


@pytest.mark.parametrize("args, exten, why", [
    (["inbound", "10&1"], "02873000001", "inbound target"),
    (["inbound", "PJSIP/2002"], "02873000001", "inbound target"),
    (["inbound", "101", "x"], "02873000001", "at most one"),
    (["inbound"], "s", "not a hotline"),
    (["inbound"], "02899999999", "no ring group answers hotline 02899999999"),
])
def test_bad_stasis_arguments_are_refused(inbound, args, exten, why):
    with pytest.raises(ApiError, match=why):
        inbound.inbound_spec(channel(exten=exten), args, "c1")


@pytest.mark.parametrize("number, name, caller, caller_name", [
    ("anonymous", "", "", ""),
    ("0899\r\nX-Evil: 1", "A <sip:x>", "", ""),
    ("+84899098899", "Công ty ABC", "+84899098899", "Công ty ABC"),
])
def test_the_callers_id_reaches_the_agents_only_when_valid(inbound, number, name, caller, caller_name):
    spec = inbound.inbound_spec(channel(number=number, name=name), ["inbound"], "c1")
    assert (spec.caller, spec.caller_name) == (caller, caller_name)


def test_trunk_of_a_channel_name():
    assert trunk_of("PJSIP/trunk-a-0000002a") == "trunk-a"
    assert trunk_of("Local/101@x-00000001;1") == ""
