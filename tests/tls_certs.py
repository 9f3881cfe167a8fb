"""Throw-away certificates for TLS tests, made with ``cryptography`` (EC keys: fast to make).

:func:`make_pki` writes ``NAME.pem`` and ``NAME.key`` for:

* ``ca``, ``other-ca``, ``client-ca`` — three unrelated CAs;
* ``server``  — for ``localhost`` (DNS name and 127.0.0.1), signed by ``ca``;
* ``expired`` — like ``server`` but expired yesterday;
* ``wrong``   — like ``server`` but signed by ``other-ca``;
* ``mailer``  — a client certificate for ``mailer.internal``, signed by ``client-ca``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_Issuer = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


@dataclass(frozen=True)
class Pki:
    dir: Path

    def pem(self, name: str) -> str:
        return str(self.dir / f"{name}.pem")

    def key(self, name: str) -> str:
        return str(self.dir / f"{name}.key")

    def server_flags(self, name: str = "server", *, client_ca: bool = False) -> list[str]:
        """``tubeworks queue`` flags serving certificate ``name``."""
        flags = ["--tls-cert", self.pem(name), "--tls-key", self.key(name)]
        return [*flags, "--tls-client-ca", self.pem("client-ca")] if client_ca else flags


def _save(base: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    base.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    base.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _cert(
    cn: str,
    issuer: _Issuer | None,
    *,
    sans: list[x509.GeneralName] | None = None,
    days: tuple[int, int] = (-1, 30),
) -> _Issuer:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[1].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(issuer[0] if issuer else key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    local = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    made: dict[str, _Issuer] = {}
    for name, cn, issuer, sans, days in (
        ("ca", "tubeworks test CA", None, None, (-1, 30)),
        ("other-ca", "some other CA", None, None, (-1, 30)),
        ("client-ca", "tubeworks client CA", None, None, (-1, 30)),
        ("server", "localhost", "ca", local, (-1, 30)),
        ("expired", "localhost", "ca", local, (-10, -1)),
        ("wrong", "localhost", "other-ca", local, (-1, 30)),
        ("mailer", "mailer.internal", "client-ca", None, (-1, 30)),
    ):
        made[name] = _cert(cn, made[issuer] if issuer else None, sans=sans, days=days)
        _save(directory / name, *made[name])
    return Pki(directory)
