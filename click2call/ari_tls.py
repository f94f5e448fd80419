"""TLS to Asterisk's ARI: the one client SSL context (https:// REST and wss:// events), what a failed handshake
means in words an operator can act on, and whether a plain http:// URL sends the ARI password across a network.

There is no way to turn verification off: a certificate Asterisk presents is checked against C2C_ARI_CA_FILE (or
the system's trust store) and must name the URL's host; a service that cannot verify it does not connect."""

from __future__ import annotations

import ipaddress
import ssl
from urllib.parse import urlsplit

CA_SETTING = "C2C_ARI_CA_FILE"


def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Certificate and host name verification on (TLS 1.2 or later); trust `ca_file` (PEM), else the system's
    store. Raises OSError or ssl.SSLError when the file cannot be read or holds no certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # create_default_context: CERT_REQUIRED, check_hostname
    return context


def check_ca_file(path: str) -> str | None:
    """Why `path` is no usable CA file (a message), or None when it is."""
    try:
        client_context(path)
    except ssl.SSLError as exc:  # (an OSError too)
        return f"{CA_SETTING}: {path} holds no PEM certificate ({exc.reason or exc})"
    except OSError as exc:
        return f"{CA_SETTING}: cannot read {path}: {exc.strerror or exc}"
    return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def cleartext(url: str) -> bool:
    """True when `url` is plain http:// to a host that is not this machine: basic auth crosses a network in clear."""
    parts = urlsplit(url)
    return parts.scheme == "http" and not is_loopback(parts.hostname or "")


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


NAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
EXPIRED = 10  # X509_V_ERR_CERT_HAS_EXPIRED


def failure(exc: BaseException, url: str) -> str | None:
    """A message naming the TLS failure behind `exc` (raised connecting to `url`), or None when it is none.
    httpx and websockets wrap the ssl module's error; it is found on the exception's chain."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None or isinstance(seen, ssl.SSLError):
            break
        seen = seen.__cause__ or seen.__context__
    if not isinstance(seen, ssl.SSLError):
        return None
    where = _host_port(url)
    if isinstance(seen, ssl.SSLCertVerificationError):
        reason = seen.verify_message or seen.reason or str(seen)
        if seen.verify_code in NAME_MISMATCH:
            hint = "the certificate must name the host of the ARI URL (subjectAltName)"
        elif seen.verify_code == EXPIRED:
            hint = "renew Asterisk's certificate"
        else:
            hint = f"set {CA_SETTING} to the CA (PEM) that signed Asterisk's certificate"
        return f"ARI TLS: certificate verify failed for {where}: {reason} ({hint})"
    return f"ARI TLS: handshake with {where} failed: {seen.reason or seen} (is it Asterisk's TLS port, " \
           "http.conf tlsbindaddr?)"
