"""Scoped tokens and agent tokens as configured: the tenants file's [[tenant.token]] tables and C2C_API_TOKENS'
`TOKEN;id=ID;scopes=...` form; what a token is once identified; what a broken one is refused for. (Each scope against
every route, and an agent token against the real service: tests/test_token_scopes.py.)"""

import pytest

from click2call.config import ConfigError, Settings
from click2call.errors import ApiError
from click2call.http.auth import Caller
from click2call.http.routes import OPERATIONS
from click2call.states import AGENT_SCOPES, Scope
from click2call.tenants import derived_id, hash_token

BASE = {"C2C_HOTLINES": "02873000001=trunk-a"}
CRM, AGENT, LEGACY = "acme-crm-token-0123456789", "acme-agent-token-0123456789", "acme-legacy-token-0123456789"
OPERATOR, AUDITOR = "operator-token-0123456789", "operator-auditor-0123456789"

FILE = f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token(LEGACY)}"]
extensions = ["101", "102"]
hotlines = ["02873000001"]
  [[tenant.token]]
  id = "crm"
  token = "{hash_token(CRM)}"
  scopes = ["calls:write", "calls:read"]
  [[tenant.token]]
  id = "agent-101"
  token = "{hash_token(AGENT)}"
  extension = "101"
"""


def settings(tmp_path, text=FILE, tokens=f"{OPERATOR};id=ops,{hash_token(AUDITOR)};scopes=admin hooks:read"):
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    return Settings.from_env({**BASE, "C2C_API_TOKENS": tokens, "C2C_TENANTS_FILE": str(path)})


def test_each_token_is_known_by_its_id_and_scopes(tmp_path):
    d = settings(tmp_path).directory()
    crm, agent, legacy = d.identify(CRM), d.identify(AGENT), d.identify(LEGACY)
    assert (crm.id, crm.tenant.name, crm.scopes, crm.tenant.agent) == (
        "crm", "acme", {Scope.CALLS_WRITE, Scope.CALLS_READ}, None)
    assert (agent.id, agent.tenant.name, agent.tenant.agent, agent.scopes) == ("agent-101", "acme", "101", AGENT_SCOPES)
    # Without scopes: everything its tenant may do, as before scopes existed; its id from its digest, not the token.
    assert legacy.scopes == set(Scope) and legacy.id == derived_id(hash_token(LEGACY)) and LEGACY not in legacy.id
    ops, auditor = d.identify(OPERATOR), d.identify(AUDITOR)
    assert (ops.id, ops.tenant.is_operator, ops.scopes) == ("ops", True, set(Scope))
    assert (auditor.id, auditor.tenant.is_operator, auditor.scopes) == (
        derived_id(hash_token(AUDITOR)), True, {Scope.ADMIN, Scope.HOOKS_READ})
    assert d.identify(hash_token(CRM)) is None and d.identify("") is None
    assert d.authenticate(CRM).name == "acme"  # what authenticate always said: the tenant


def test_an_agent_token_acts_for_its_own_extension_and_sees_its_calls(tmp_path):
    agent = settings(tmp_path).directory().identify(AGENT).tenant
    agent.check_own("101")
    with pytest.raises(ApiError) as exc:
        agent.check_own("102")
    assert (exc.value.status, exc.value.code) == (403, "AGENT_EXTENSION_ONLY") and "101" in exc.value.message
    agent.check_extension("102")  # still its tenant's (a transfer's target may be a colleague)
    assert agent.sees_call("acme", "101") and not agent.sees_call("acme", "102") and not agent.sees_call("beta", "101")


def test_a_missing_scope_is_refused_naming_it():
    caller = Caller(tenant=None, key="k", token_id="crm", scopes=frozenset({Scope.CALLS_READ}))
    caller.require(Scope.CALLS_READ)
    with pytest.raises(ApiError) as exc:
        caller.require(Scope.SUPERVISE)
    assert (exc.value.status, exc.value.code) == (403, "SCOPE_REQUIRED") and "supervise" in exc.value.message


def test_every_route_with_a_token_declares_a_scope_and_state_changes_an_audit_action():
    for op in OPERATIONS:
        assert (op.scope is not None) is (op.auth and not op.any_scope), op.path  # any_scope: /v1/me, the session
        changes = op.method != "GET" or op.path.startswith("/v1/click2call")  # TEL4VN's click-to-call is a GET
        assert (op.audit is not None) is (changes and op.auth), f"{op.method} {op.path}"
    with pytest.raises(ValueError, match="needs a scope"):
        type(OPERATIONS[0])("GET", "/v1/new", OPERATIONS[0].handler, {200: dict})


@pytest.mark.parametrize("entry, why", [
    ('id = "x"\ntoken = "0123456789abcdefgh"\nscopes = ["calls:writ"]', "unknown scope 'calls:writ'"),
    ('id = "x"\ntoken = "0123456789abcdefgh"\nextension = "101"\nscopes = ["control", "supervise"]',
     "may not have scope supervise"),
    ('id = "x"\ntoken = "0123456789abcdefgh"\nextension = "103"', "extension 103 is not one of the tenant's"),
    ('id = "x y"\ntoken = "0123456789abcdefgh"', "must be 1-64 letters"),
    ('id = "crm"\ntoken = "0123456789abcdefgh"', "token id crm is used twice"),
    ('token = "0123456789abcdefgh"', "id"),
    ('id = "x"\ntoken = "short"', "at least 16"),
    ('id = "x"\ntoken = "0123456789abcdefgh"\nextra = 1', "each [[tenant.token]] has id, token"),
])
def test_a_broken_token_table_stops_the_start(tmp_path, entry, why):
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, FILE + f"  [[tenant.token]]\n  {entry}\n")
    assert why in str(exc.value), str(exc.value)
    assert "0123456789abcdefgh" not in str(exc.value)  # never a token in an error message


@pytest.mark.parametrize("tokens, why", [
    (f"{OPERATOR};scopes=admin nope", "unknown scope 'nope'"),
    (f"{OPERATOR};role=admin", "only ;id=ID and ;scopes="),
    (f"{OPERATOR};id=a b", "token id must be"),
    (f"{OPERATOR};id=a,{AUDITOR};id=a", "token id a is used twice"),
    (f"{OPERATOR};id=crm", "token id crm is both"),
    ("sha256:abc;id=x", "64 lower-case hex"),
])
def test_broken_operator_tokens_stop_the_start(tmp_path, tokens, why):
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, tokens=tokens)
    assert why in str(exc.value), str(exc.value)
    assert OPERATOR not in str(exc.value) and AUDITOR not in str(exc.value)


def test_an_audited_hook_url_keeps_where_it_points_not_its_password_or_query():
    from click2call.http.audit_fields import _bare
    assert _bare("https://user:pw@crm.example:8443/hook/a?key=s3cret#x") == "https://crm.example:8443/hook/a"
    assert _bare("http://[::1]:8080/h") == "http://[::1]:8080/h" and _bare("https://x.example/") == "https://x.example/"
