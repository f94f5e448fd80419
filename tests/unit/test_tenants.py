"""Tenants from a TOML file: who a token is, what it may ring, and what a broken file is refused for."""

import pytest

from click2call.config import ConfigError, Settings
from click2call.errors import ApiError
from click2call.tenants import hash_token

BASE = {"C2C_API_TOKENS": "operator-token-0123456789", "C2C_HOTLINES": "02873000001=trunk-a,02873000002=trunk-b",
        "C2C_SECRET_KEY": "fEyfJQ-wf9PxGrgrnOPVr4ZzVYN3TwXGJiHpC2aXc1U="}  # the file's hook has a secret: stored encrypted
ACME_TOKEN, BETA_TOKEN = "acme-token-0123456789abcdef", "beta-token-0123456789abcdef"

GOOD = f"""
[[tenant]]
name = "acme"
tokens = ["{hash_token(ACME_TOKEN)}"]
extensions = ["101", "102"]
hotlines = ["02873000001"]
  [[tenant.hook]]
  event = "hangup"
  callback_url = "https://crm.acme.example/hook"
  secret = "whsec_QUJDREVGR0hJSktMTU5PUA=="

[[tenant]]
name = "beta"
tokens = ["{BETA_TOKEN}"]
extension_pattern = "2[0-9]{{2}}"
hotlines = ["02899990000=trunk-beta", "02873000002"]
"""


def settings(tmp_path, text=GOOD, **env):
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    return Settings.from_env({**BASE, "C2C_TENANTS_FILE": str(path), **env})


def test_tokens_map_to_their_tenant_and_only_theirs(tmp_path):
    d = settings(tmp_path).directory()
    assert d.authenticate(ACME_TOKEN).name == "acme"
    assert d.authenticate(BETA_TOKEN).name == "beta"  # a plain-text token works too
    assert d.authenticate("operator-token-0123456789").is_operator
    assert d.authenticate(hash_token(ACME_TOKEN)) is None  # the stored digest is not itself a token
    assert d.authenticate(ACME_TOKEN + "x") is None and d.authenticate("") is None


def test_extensions_and_hotlines_are_the_tenants_own(tmp_path):
    d = settings(tmp_path).directory()
    acme, beta, operator = d.authenticate(ACME_TOKEN), d.authenticate(BETA_TOKEN), d.operator
    assert acme.owns("101") and not acme.owns("103") and not acme.owns("201")
    assert beta.owns("250") and not beta.owns("2500") and not beta.owns("101")  # a full match
    with pytest.raises(ApiError) as exc:
        acme.check_extension("201")
    assert exc.value.code == "EXTENSION_NOT_ALLOWED" and exc.value.status == 403
    assert acme.hotline(None).trunk == "trunk-a"
    with pytest.raises(ApiError) as exc:
        acme.hotline("02873000002")
    assert exc.value.code == "HOTLINE_NOT_FOUND"
    assert beta.hotline(None).trunk == "trunk-beta" and beta.hotline("02873000002").trunk == "trunk-b"
    # The operator has every hotline (its own first) and every extension.
    assert [h.number for h in operator.hotlines] == ["02873000001", "02873000002", "02899990000"]
    assert operator.owns("999") and operator.sees("acme") and not acme.sees("beta") and not acme.sees(None)
    # A handoff from a desk phone belongs to whoever owns the extension.
    assert d.owner_of("102").name == "acme" and d.owner_of("230").name == "beta" and d.owner_of("555").is_operator
    assert settings(tmp_path).trunks() == {"trunk-a", "trunk-b", "trunk-beta"}
    assert acme.hooks[0].event == "hangup" and "whsec" not in repr(acme)


def test_tenants_file_alone_is_enough(tmp_path):
    s = settings(tmp_path, C2C_API_TOKENS="", C2C_HOTLINES="02873000001=trunk-a,02873000002=trunk-b")
    assert s.api_tokens == () and s.directory().authenticate(ACME_TOKEN).name == "acme"


def test_operator_tokens_may_be_stored_hashed(tmp_path):
    s = Settings.from_env({**BASE, "C2C_API_TOKENS": hash_token("operator-token-0123456789")})
    assert s.directory().authenticate("operator-token-0123456789").is_operator


@pytest.mark.parametrize("text, why", [
    ("[[tenant]]\nname='a'\ntokens=['short']\nextensions=['101']\nhotlines=['02873000001']", "at least 16"),
    ("[[tenant]]\nname='a'\ntokens=['sha256:abc']\nextensions=['101']\nhotlines=['02873000001']", "64 lower-case"),
    ("[[tenant]]\nname='a'\ntokens=[]\nextensions=['101']\nhotlines=['02873000001']", "at least one token"),
    ("[[tenant]]\nname='a b'\ntokens=['0123456789abcdefg']\nextensions=['101']\nhotlines=['02873000001']", "name"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nhotlines=['02873000001']", "extension_pattern"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['../x']\nhotlines=['02873000001']", "valid extension"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextension_pattern='('\nhotlines=['02873000001']", "regular"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['101']\nhotlines=['0999']", "not in C2C_HOTLINES"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['101']\nhotlines=['0999=tr unk']", "NUMBER=TRUNK"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['101']\nhotlines=['02873000001=trunk-z']", "two trunks"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['101']", "at least one hotline"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['101']\nhotlines=['02873000001']\nx=1", "unknown key"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['101']\nhotlines=['02873000001']\n"
     "[[tenant]]\nname='b'\ntokens=['0123456789abcdefg']\nextensions=['102']\nhotlines=['02873000001']", "used twice"),
    ("[[tenant]]\nname='a'\ntokens=['operator-token-0123456789']\nextensions=['101']\nhotlines=['02873000001']",
     "both in C2C_API_TOKENS"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['101']\nhotlines=['02873000001']\n"
     "[[tenant.hook]]\nevent='nope'\ncallback_url='https://x.example/'", "event"),
    ("[[tenant]]\nname='a'\ntokens=['0123456789abcdefg']\nextensions=['101']\nhotlines=['02873000001']\n"
     "[[tenant.hook]]\nevent='cdr'\ncallback_url='ftp://x.example/'", "http(s) URL"),
    ("tenant = 1", "[[tenant]]"),
    ("[[tenant]\n", "not valid TOML"),
    ("", "defines no"),
])
def test_a_broken_tenants_file_stops_the_start(tmp_path, text, why):
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, text)
    assert why in str(exc.value)
    assert "0123456789abcdefg" not in str(exc.value)  # never a token in an error message


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.from_env({**BASE, "C2C_TENANTS_FILE": str(tmp_path / "nope.toml")})


def test_a_tenants_allowed_networks_add_to_everyones(tmp_path):
    text = GOOD.replace('extensions = ["101", "102"]', 'extensions = ["101", "102"]\nallowed_networks = ["10.1.0.0/16"]')
    reach = settings(tmp_path, text, C2C_WEBHOOK_ALLOWED_NETWORKS="192.168.0.0/24").reach()
    assert [str(n) for n in reach.policy("acme").allowed] == ["192.168.0.0/24", "10.1.0.0/16"]
    assert [str(n) for n in reach.policy("beta").allowed] == ["192.168.0.0/24"]
    assert [str(n) for n in reach.policy(None).allowed] == ["192.168.0.0/24"]  # the operator's tokens: everyone's


@pytest.mark.parametrize("networks, why", [
    ('["10.1.2.3/16"]', "tenant acme: allowed_networks: '10.1.2.3/16' has bits set past its prefix length"),
    ('["crm.lan"]', "tenant acme: allowed_networks: 'crm.lan' is not a network"),
    ('"10.0.0.0/8"', "tenant acme: allowed_networks must be a list of networks"),
])
def test_a_bad_allowed_network_stops_the_start_naming_the_tenant(tmp_path, networks, why):
    text = GOOD.replace('extensions = ["101", "102"]', f'extensions = ["101", "102"]\nallowed_networks = {networks}')
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, text)
    assert why in str(exc.value)


def test_a_hook_secret_in_the_file_needs_a_secret_key(tmp_path):
    """It is stored encrypted in the database (secret_box.py): without a key the start stops, saying so."""
    with pytest.raises(ConfigError, match="tenant acme: a hook's secret and callback_apikey are stored encrypted: "
                                          "set C2C_SECRET_KEY"):
        settings(tmp_path, C2C_SECRET_KEY="")
    settings(tmp_path, GOOD.replace('secret = "whsec_QUJDREVGR0hJSktMTU5PUA=="', ""), C2C_SECRET_KEY="")
