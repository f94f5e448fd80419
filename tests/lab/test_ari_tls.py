"""Click-to-call over ARI TLS: the lab's Asterisk serves ARI on https:// and wss:// too (a CA and certificate lab.sh
makes at every start, lab/certs.py); a service given that URL and the lab's CA places calls end to end talking to
Asterisk only over TLS, and a service given another CA never connects and says why."""

from __future__ import annotations

import httpx
import pytest

from lab import certs, labkit

from .conftest import HOTLINE_A, HOTLINE_B, TOKEN
from .helpers import agent_invite, assert_cleaned_up, fail, final_record, invite_to, unique_phone, wait_for

pytestmark = pytest.mark.lab

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def tls_env(lab) -> dict[str, str]:
    return {"C2C_ARI_URL": lab["LAB_ARI_TLS_URL"], "C2C_ARI_CA_FILE": lab["LAB_ARI_CA_FILE"]}


def ari_clients(lab, pid: int) -> dict[str, int]:
    """How many established connections process `pid` holds to the lab's ARI, by port: plain and TLS."""
    ports = {"plain": int(lab["LAB_ARI_PORT"]), "tls": int(lab["LAB_ARI_TLS_PORT"])}
    return {kind: sum(1 for line in labkit.tcp_connections(port) if line.startswith("ESTAB")
                      and line.split()[4].endswith(f":{port}") and f"pid={pid}," in line)
            for kind, port in ports.items()}


def test_click_to_call_over_tls_rings_the_agent_then_the_customer_and_records(own_service, lab, ari, phones,
                                                                            carriers):
    svc = own_service(**tls_env(lab))
    assert ari_clients(lab, svc.proc.pid)["plain"] == 0 and ari_clients(lab, svc.proc.pid)["tls"] >= 1
    phone = unique_phone()
    r = httpx.get(svc.base + "/v1/click2call", params={"ext": "107", "phone": phone, "hotline": HOTLINE_A,
                                                       "record": "true"}, headers=HEADERS, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "success", r.text  # the agent answered
    call_id = r.json()["call_id"]
    assert agent_invite(phones["107"], call_id)["request_uri"].startswith("sip:107@")
    customer = invite_to(carriers[HOTLINE_A], phone)  # then the customer is dialled through the hotline's trunk
    assert f"<sip:{HOTLINE_A}@" in customer["from"]
    wait_for(lambda: httpx.get(f"{svc.base}/v1/cdr/{call_id}", headers=HEADERS).json()["time_answered"], 5,
             "the customer's answer")
    assert httpx.delete(f"{svc.base}/v1/call/{call_id}", headers=HEADERS, timeout=15).status_code == 200
    with httpx.Client(base_url=svc.base, headers=HEADERS) as api:
        rec = final_record(api, call_id)
    assert (rec["status"], rec["hangup_by"], rec["extension"], rec["to_number"]) == ("ANSWERED", "api", "107", phone)
    # The recording is fetched from Asterisk over https:// (REST through httpx), then served.
    wav = httpx.get(rec["recording_url"], headers=HEADERS, timeout=30)
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav" and wav.content[:4] == b"RIFF"
    assert_cleaned_up(ari, call_id)
    assert ari_clients(lab, svc.proc.pid)["plain"] == 0  # never a word with Asterisk in clear


def test_async_click_to_call_to_an_https_node(own_service, lab, ari, phones, carriers):
    """A node of C2C_ASTERISK_NODES given as https:// (the cluster's way of naming Asterisk hosts)."""
    svc = own_service(C2C_ASTERISK_NODES=f"tls-node={lab['LAB_ARI_TLS_URL']}",
                      C2C_ARI_CA_FILE=lab["LAB_ARI_CA_FILE"])
    phone = unique_phone()
    r = httpx.get(svc.base + "/v1/click2call/async", params={"ext": "108", "phone": phone, "hotline": HOTLINE_B},
                  headers=HEADERS, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    call_id = r.json()["call_id"]
    invite_to(carriers[HOTLINE_B], phone)  # the agent answered, the customer is dialled; the carrier hangs up
    with httpx.Client(base_url=svc.base, headers=HEADERS) as api:
        rec = final_record(api, call_id)
    assert (rec["status"], rec["hangup_by"], rec["extension"]) == ("ANSWERED", "customer", "108")
    cluster = httpx.get(f"{svc.base}/v1/cluster", headers=HEADERS).json()
    assert [(n["name"], n["ari_url"], n["reachable"], n["ari_error"]) for n in cluster["nodes"]] == [
        ("tls-node", lab["LAB_ARI_TLS_URL"], True, None)]
    assert_cleaned_up(ari, call_id)


def test_another_ca_is_refused_with_a_clear_message(own_service, lab, ari, tmp_path):
    other = tmp_path / "other-ca.pem"
    other.write_bytes(certs.authority("not the lab's CA").cert_pem())
    svc = own_service(ready=False, C2C_ARI_URL=lab["LAB_ARI_TLS_URL"], C2C_ARI_CA_FILE=str(other))
    why = (f"ARI TLS: certificate verify failed for 127.0.0.1:{lab['LAB_ARI_TLS_PORT']}: unable to get local issuer "
           "certificate (set C2C_ARI_CA_FILE to the CA (PEM) that signed Asterisk's certificate)")
    ready = wait_for(lambda: (r := httpx.get(svc.base + "/readyz")).status_code == 503 and why in r.text and r, 10,
                     "/readyz to say why")
    assert ready.json() == {"status": "fail", "error": "SERVICE_UNAVAILABLE",
                            "message": f"ARI websocket not connected ({why})"}
    assert why in svc.log()
    fail(httpx.get(svc.base + "/v1/click2call", params={"ext": "109", "phone": unique_phone()}, headers=HEADERS,
                   timeout=30), 503, "SERVICE_UNAVAILABLE")
    node = httpx.get(f"{svc.base}/v1/cluster", headers=HEADERS).json()["nodes"][0]
    assert (node["reachable"], node["ari_error"]) == (False, why)
    # It keeps trying (with backoff), and never connects without verification: Asterisk never hears of its app.
    wait_for(lambda: svc.log().count(why) >= 3, 10, "retries")
    assert svc.env["C2C_ARI_APP"] not in {a["name"] for a in ari.get("/applications").json()}
    assert ari_clients(lab, svc.proc.pid) == {"plain": 0, "tls": 0}
