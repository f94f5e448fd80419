"""TLS to Asterisk's ARI: the client context verifies (certificate and host name), the CA file setting is checked
at start, a plain http:// URL to another host is told apart, and the ARI client against a real TLS websocket server
on 127.0.0.1 (certificates made by lab/certs.py): with the right CA it connects over wss:// and https://; with
another CA, or a certificate for another name, or a server that speaks no TLS, it does not, and says why in words."""

from __future__ import annotations

import asyncio
import json
import ssl

import httpx
import pytest
from websockets.asyncio.server import serve

from click2call import ari_tls
from click2call.config import ConfigError, Settings
from click2call.stasis_app.ari import Ari, AriUnavailable
from lab import certs

BASE = {"C2C_API_TOKENS": "t1", "C2C_HOTLINES": "02873000001=trunk-a"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The lab's CA and a server certificate for 127.0.0.1/localhost; another CA; a certificate for localhost only."""
    d = tmp_path_factory.mktemp("pki")
    ca = certs.authority()
    other = certs.authority("another CA")
    files = {}
    for name, pair in {"server": certs.server(ca), "localhost": certs.server(ca, ("localhost",))}.items():
        (d / f"{name}.pem").write_bytes(pair.cert_pem())
        (d / f"{name}.key").write_bytes(pair.key_pem())
        files[name] = (str(d / f"{name}.pem"), str(d / f"{name}.key"))
    (d / "ca.pem").write_bytes(ca.cert_pem())
    (d / "other.pem").write_bytes(other.cert_pem())
    (d / "junk.pem").write_text("not a certificate\n")
    return {"ca": str(d / "ca.pem"), "other": str(d / "other.pem"), "junk": str(d / "junk.pem"), **files}


def test_the_client_context_verifies_certificate_and_host_name(pki):
    for context in (ari_tls.client_context(), ari_tls.client_context(pki["ca"])):
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ari_tls.client_context(pki["ca"]).get_ca_certs()[0]["subject"][-1] == (("commonName", "click2call lab CA"),)


def test_the_ca_file_setting_is_checked_at_start(pki, tmp_path):
    assert Settings.from_env(BASE).ari_ca_file is None  # the system's trust store
    assert Settings.from_env({**BASE, "C2C_ARI_CA_FILE": pki["ca"]}).ari_ca_file == pki["ca"]
    with pytest.raises(ConfigError, match=r"C2C_ARI_CA_FILE: cannot read .*missing\.pem"):
        Settings.from_env({**BASE, "C2C_ARI_CA_FILE": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match=r"C2C_ARI_CA_FILE: .*junk\.pem holds no PEM certificate"):
        Settings.from_env({**BASE, "C2C_ARI_CA_FILE": pki["junk"]})


def test_every_node_url_may_be_https():
    s = Settings.from_env({**BASE, "C2C_ASTERISK_NODES": "a=https://10.0.0.1:8089,b=http://127.0.0.1:8088"})
    assert [(n.name, n.ari_url) for n in s.nodes] == [("a", "https://10.0.0.1:8089"), ("b", "http://127.0.0.1:8088")]
    assert Settings.from_env({**BASE, "C2C_ARI_URL": "https://pbx.example:8089/"}).nodes[0].ari_url \
        == "https://pbx.example:8089"


@pytest.mark.parametrize("url, clear", [
    ("http://127.0.0.1:8088", False), ("http://localhost:8088", False), ("http://[::1]:8088", False),
    ("http://127.8.0.1:8088", False), ("https://10.0.0.5:8089", False), ("https://pbx.example:8089", False),
    ("http://10.0.0.5:8088", True), ("http://pbx.example:8088", True), ("http://[fd00::5]:8088", True),
])
def test_plain_http_to_another_host_is_cleartext(url, clear):
    assert ari_tls.cleartext(url) is clear


async def connect_events(ari: Ari, seconds: float) -> list[dict]:
    """Run the ARI client's event stream until its first event or its first failure to connect (at most `seconds`);
    the events it got."""
    got: list[dict] = []

    def handle(event: dict) -> None:
        got.append(event)

    async def connected() -> None:
        pass

    reader = asyncio.create_task(ari.run_events(handle, connected))
    try:
        async with asyncio.timeout(seconds):
            while not got and ari.last_error is None:
                await asyncio.sleep(0.01)
    except TimeoutError:
        pass
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return got


async def asterisk(ws) -> None:
    await ws.send(json.dumps({"type": "StasisStart", "application": "c2c"}))
    await ws.wait_closed()


def server_context(pki, name: str = "server") -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*pki[name])
    return context


async def ari_against(pki, ca_file: str | None, *, cert: str = "server", host: str = "127.0.0.1"):
    """An Ari client over TLS trusting `ca_file`, against a TLS websocket server presenting `cert`: the events the
    client got, why it says it is not connected, and what a REST request raised (or its status)."""
    tls = ari_tls.client_context(ca_file)
    async with serve(asterisk, "127.0.0.1", 0, ssl=server_context(pki, cert)) as server, \
            httpx.AsyncClient(verify=tls) as http:
        port = server.sockets[0].getsockname()[1]
        ari = Ari(http, f"https://{host}:{port}", "u", "p", "c2c", tls=tls)
        got = await connect_events(ari, 5)
        try:
            await ari.request("GET", "/asterisk/ping")
            rest = "answered"
        except AriUnavailable as exc:
            rest = exc.message
        except Exception as exc:  # an HTTP status: TLS held, the websocket-only server refused the request
            rest = f"status {getattr(exc, 'status', exc)}"
    return got, ari.last_error, rest, port


async def test_the_right_ca_connects_over_wss_and_https(pki):
    got, error, rest, _ = await ari_against(pki, pki["ca"])
    assert [e["type"] for e in got] == ["StasisStart"] and error is None
    assert rest.startswith("status 4")  # TLS verified; the test server takes websockets only


async def test_another_ca_is_refused_with_a_clear_message(pki, caplog):
    got, error, rest, port = await ari_against(pki, pki["other"])
    expected = (f"ARI TLS: certificate verify failed for 127.0.0.1:{port}: unable to get local issuer certificate "
                "(set C2C_ARI_CA_FILE to the CA (PEM) that signed Asterisk's certificate)")
    assert got == [] and error == expected and rest == expected
    assert any(r.levelname == "ERROR" and expected in r.getMessage() for r in caplog.records)


async def test_the_system_store_does_not_trust_a_private_ca(pki):
    got, error, _, _ = await ari_against(pki, None)
    assert got == [] and error.startswith("ARI TLS: certificate verify failed for 127.0.0.1:")


async def test_a_certificate_for_another_name_is_refused(pki):
    got, error, rest, port = await ari_against(pki, pki["ca"], cert="localhost")
    assert got == [] and error == rest
    assert error.startswith(f"ARI TLS: certificate verify failed for 127.0.0.1:{port}: IP address mismatch, "
                            "certificate is not valid for '127.0.0.1'")
    assert error.endswith("(the certificate must name the host of the ARI URL (subjectAltName))")


async def test_https_to_a_plain_http_port_names_the_handshake(pki):
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # a TLS ClientHello: Asterisk's plain HTTP server answers 400 in clear
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with await asyncio.start_server(plain_http, "127.0.0.1", 0) as server, \
            httpx.AsyncClient(verify=ari_tls.client_context()) as http:
        port = server.sockets[0].getsockname()[1]
        ari = Ari(http, f"https://127.0.0.1:{port}", "u", "p", "c2c", tls=ari_tls.client_context())
        got = await connect_events(ari, 5)
    assert got == [] and ari.last_error.startswith(f"ARI TLS: handshake with 127.0.0.1:{port} failed: ")
    assert ari.last_error.endswith("(is it Asterisk's TLS port, http.conf tlsbindaddr?)")


def test_a_failure_that_is_no_tls_failure_is_not_named_so():
    assert ari_tls.failure(ConnectionRefusedError(111, "Connect call failed"), "https://127.0.0.1:9088") is None
