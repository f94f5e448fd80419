"""With Asterisk unreachable the service still starts, says it is not ready, and refuses calls with 503."""

import httpx

from tests.lab.conftest import TOKEN
from tests.offline import offline_service


def test_asterisk_unreachable_gives_503_in_the_api_shape(tmp_path):
    with offline_service(tmp_path, f"sqlite:///{tmp_path}/c.db", C2C_ARI_USER="x",
                         C2C_ARI_PASSWORD="pw-SECRET-7731") as svc:
        base = svc.base
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503, svc.log()
        assert ready.json()["error"] == "SERVICE_UNAVAILABLE"
        for path in ("/v1/click2call", "/v1/click2call/async"):
            r = httpx.get(base + path, params={"ext": "101", "phone": "0899098899"},
                          headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 503
            assert r.json() == {"status": "fail", "error": "SERVICE_UNAVAILABLE",
                                "message": "The PBX (Asterisk ARI) is not reachable"}
        assert "pw-SECRET-7731" not in svc.log() and TOKEN not in svc.log()


def test_rate_limit_per_token_answers_429_with_retry_after(tmp_path):
    with offline_service(tmp_path, f"sqlite:///{tmp_path}/c.db", C2C_RATE_LIMIT="0.5", C2C_RATE_BURST="2") as svc:
        ask = lambda token: httpx.get(svc.base + "/v1/click2call/async", params={"ext": "101", "phone": "0899"},  # noqa: E731
                                      headers={"Authorization": f"Bearer {token}"})
        assert [ask(TOKEN).status_code for _ in range(2)] == [503, 503]  # within the burst (ARI is down here)
        limited = ask(TOKEN)
        assert limited.status_code == 429 and limited.json()["error"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        assert ask("other-token").status_code == 503  # another token is not limited by this one
        v2 = httpx.post(svc.base + "/v2/click2call", json={"mobile": "0899", "agent": "101"},
                        headers={"Authorization": f"Bearer {TOKEN}"})
        assert (v2.status_code, v2.json()["code"], v2.json()["error"]) == (429, "1", "RATE_LIMITED")
