import pytest

from click2call.config import ConfigError, Hotline, Settings
from click2call.errors import ApiError
from click2call.http.auth import require_token
from click2call import backoff

BASE = {"C2C_API_TOKENS": "t1, t2", "C2C_HOTLINES": "02873000001=trunk-a,02873000002=trunk-b"}


def test_from_env_defaults_and_hotlines():
    s = Settings.from_env(BASE)
    assert s.api_tokens == ("t1", "t2")
    assert s.hotlines == (Hotline("02873000001", "trunk-a"), Hotline("02873000002", "trunk-b"))
    assert s.operator.hotline(None).trunk == "trunk-a" and s.operator.hotline("02873000002").trunk == "trunk-b"
    assert (s.ari_url, s.ari_app, s.listen_host, s.listen_port) == ("http://127.0.0.1:8088", "click2call", "127.0.0.1", 8000)
    with pytest.raises(ApiError) as exc:
        s.operator.hotline("0999")
    assert exc.value.code == "HOTLINE_NOT_FOUND"


@pytest.mark.parametrize("env", [
    {"C2C_HOTLINES": "x"}, {"C2C_HOTLINES": "0287=trunk/a"}, {"C2C_HOTLINES": "0287&1=trunk"},
    {"C2C_API_TOKENS": ""}, {"C2C_RING_TIMEOUT": "0"}, {"C2C_LISTEN": "127.0.0.1:http"}, {"C2C_HOTLINES": ""},
    {"C2C_TIMEZONE": "Mars/Olympus"}, {"C2C_WEBHOOK_URL": "http://crm.example/hook"},  # a hook needs a secret
    {"C2C_WEBHOOK_URL": "ftp://crm.example/x", "C2C_WEBHOOK_SECRET": "whsec_QUJD"},
    {"C2C_WEBHOOK_SECRET": "plain-text"}, {"C2C_WEBHOOK_TIMEOUT": "fast"}, {"C2C_WEBHOOK_CONCURRENCY": "0"},
    {"C2C_STREAM_HEARTBEAT": "0"}, {"C2C_STREAM_HEARTBEAT": "601"}, {"C2C_STREAM_HEARTBEAT": "often"},
])
def test_bad_configuration_refused(env):
    with pytest.raises(ConfigError):
        Settings.from_env({**BASE, **env})


def test_repr_hides_secrets():
    s = Settings.from_env({**BASE, "C2C_ARI_PASSWORD": "s3cret"})
    assert "s3cret" not in repr(s) and "t1" not in repr(s)


class FakeRequest:  # only the headers matter to the check
    def __init__(self, value):
        self.headers = {"authorization": value} if value is not None else {}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", "Basic t1", "t1", "Bearer t1x"])
def test_bad_tokens_refused(header):
    with pytest.raises(ApiError) as exc:
        require_token(FakeRequest(header), Settings.from_env({**BASE, "C2C_API_TOKENS": "t1,t2"}).directory())
    assert exc.value.status == 401


def test_good_tokens_accepted():
    directory = Settings.from_env({**BASE, "C2C_API_TOKENS": "t1,t2"}).directory()
    assert require_token(FakeRequest("Bearer t2"), directory).tenant.is_operator
    assert require_token(FakeRequest("bearer t1"), directory).key != require_token(FakeRequest("Bearer t2"), directory).key


def test_backoff_grows_to_a_cap_with_jitter():
    assert backoff.delay(0, rand=1.0) == pytest.approx(0.2)
    assert backoff.delay(3, rand=1.0) == pytest.approx(1.6)
    assert backoff.delay(50, rand=1.0) == 10.0
    assert backoff.delay(50, rand=0.0) == 5.0


def test_webhook_settings():
    s = Settings.from_env({**BASE, "C2C_WEBHOOK_URL": "https://crm.example/hook",
                           "C2C_WEBHOOK_SECRET": "whsec_QUJD whsec_REVG", "C2C_WEBHOOK_TIMEOUT": "2.5"})
    assert s.webhook_url == "https://crm.example/hook" and s.webhook_secrets == ("whsec_QUJD", "whsec_REVG")
    assert s.webhook_timeout == 2.5 and s.webhook_retry_hours == 24 and s.webhook_concurrency == 8
    assert "whsec_QUJD" not in repr(s)


def test_stream_heartbeat_setting():
    assert Settings.from_env(BASE).stream_heartbeat == 15.0
    assert Settings.from_env({**BASE, "C2C_STREAM_HEARTBEAT": "2.5"}).stream_heartbeat == 2.5
    with pytest.raises(ConfigError, match="C2C_STREAM_HEARTBEAT must be between"):
        Settings.from_env({**BASE, "C2C_STREAM_HEARTBEAT": "0.01"})


KEY, KEY2 = "fEyfJQ-wf9PxGrgrnOPVr4ZzVYN3TwXGJiHpC2aXc1U=", "q7mYX0XkqM8h5mO0xQ2v3a8Nw4gkqVQ1n9ZV6wS0bL4="


def test_webhook_allowed_networks_and_secret_keys():
    s = Settings.from_env({**BASE, "C2C_WEBHOOK_ALLOWED_NETWORKS": "10.1.0.0/16, fd00::/8,192.168.7.9",
                           "C2C_SECRET_KEY": f"{KEY2} {KEY}"})
    assert [str(n) for n in s.webhook_allowed_networks] == ["10.1.0.0/16", "fd00::/8", "192.168.7.9/32"]
    assert s.secret_keys == (KEY2, KEY) and KEY not in repr(s)  # newest first
    assert Settings.from_env(BASE).webhook_allowed_networks == () and Settings.from_env(BASE).secret_keys == ()


@pytest.mark.parametrize("env, message", [
    ({"C2C_WEBHOOK_ALLOWED_NETWORKS": "10.1.2.3/16"},
     "C2C_WEBHOOK_ALLOWED_NETWORKS: '10.1.2.3/16' has bits set past its prefix length (did you mean 10.1.0.0/16?)"),
    ({"C2C_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,crm.lan"},
     "C2C_WEBHOOK_ALLOWED_NETWORKS: 'crm.lan' is not a network (CIDR, such as 10.1.0.0/16 or fd00::/8)"),
    ({"C2C_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/33"}, "'10.0.0.0/33' is not a network"),
    ({"C2C_SECRET_KEY": "not-a-key"}, "C2C_SECRET_KEY: key #1 is not a Fernet key"),
    ({"C2C_SECRET_KEY": f"{KEY},{KEY[:-4]}"}, "C2C_SECRET_KEY: key #2 is not a Fernet key"),
])
def test_bad_allowed_networks_and_secret_keys_are_refused_saying_why(env, message):
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({**BASE, **env})
    assert message in str(exc.value) and KEY[:-4] not in str(exc.value)
