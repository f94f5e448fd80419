"""Certificates for the lab's ARI over TLS: a small CA of the lab's own and a server certificate it signs for
127.0.0.1 and localhost, made with the `cryptography` package (a dependency of the service), no openssl CLI.

    python lab/certs.py DIR          # DIR/ca.pem (what clients trust), DIR/server.pem + DIR/server.key (Asterisk)

lab/lab.sh runs it at every `start` (a `restart` keeps the files, as it keeps the passwords). Tests make other
CAs with `authority()` (a CA the service is not told about) and servers with `server()`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOSTS = ("127.0.0.1", "localhost")
DAYS = 30  # a lab's certificates outlive any run; a new start makes new ones


class Pair(NamedTuple):
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "click2call lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=DAYS)))


def authority(common: str = "click2call lab CA") -> Pair:
    """A self-signed CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common)
    cert = (_builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Pair(cert, key)


def server(ca: Pair, hosts: tuple[str, ...] = HOSTS) -> Pair:
    """A TLS server certificate signed by `ca`, valid for `hosts` (IP addresses and DNS names)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (_builder(_name(hosts[0]), ca.cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Pair(cert, key)


def write(directory: str | os.PathLike, hosts: tuple[str, ...] = HOSTS) -> dict[str, Path]:
    """A new CA and server certificate in `directory`: ca.pem, server.pem, server.key (the key mode 0600)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca = authority()
    srv = server(ca, hosts)
    paths = {"ca": out / "ca.pem", "cert": out / "server.pem", "key": out / "server.key"}
    paths["ca"].write_bytes(ca.cert_pem())
    paths["cert"].write_bytes(srv.cert_pem())
    key = os.open(paths["key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(key, "wb") as f:
        f.write(srv.key_pem())
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: certs.py DIR")
    write(sys.argv[1])
