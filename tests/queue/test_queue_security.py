"""TLS, access control and limits of ``tubeworks queue`` (all off by default).

Certificates are generated per test session with ``cryptography``; every handshake is real.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import ssl
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servers import RunningServer, free_port, running, tubeworks_argv

NOW = dt.datetime.now(dt.UTC)


@dataclass
class Pki:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ca(path: Path, cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write(path, key, cert)
    return key, cert


def _leaf(
    path: Path,
    cn: str,
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    *,
    expired: bool = False,
    server: bool = True,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = (
        (NOW - dt.timedelta(days=10), NOW - dt.timedelta(days=1))
        if expired
        else (NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30))
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    _write(path, key, builder.sign(ca[0], hashes.SHA256()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = _ca(d / "ca", "tubeworks test CA")
    other = _ca(d / "other-ca", "some other CA")
    client_ca = _ca(d / "client-ca", "tubeworks client CA")
    _leaf(d / "server", "localhost", ca)
    _leaf(d / "server2", "localhost", ca)
    _leaf(d / "expired", "localhost", ca, expired=True)
    _leaf(d / "wrong", "localhost", other)
    _leaf(d / "mailer", "mailer.internal", client_ca, server=False)
    _leaf(d / "stranger", "stranger", other, server=False)
    return Pki(d)


def client_ctx(pki: Pki, cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))
    if cert:
        ctx.load_cert_chain(pki.path(cert + ".pem"), pki.path(cert + ".key"))
    return ctx


def tls_connect(srv: RunningServer, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(srv.address, timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def ask(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    sock.settimeout(10)
    out = b""
    while not out.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def tls_flags(pki: Pki, name: str = "server", client_ca: bool = False) -> list[str]:
    flags = ["--tls-cert", pki.path(name + ".pem"), "--tls-key", pki.path(name + ".key")]
    if client_ca:
        flags += ["--tls-client-ca", pki.path("client-ca.pem")]
    return flags


def test_tls_round_trip_with_verification(pki: Pki) -> None:
    with running("tubeworks", *tls_flags(pki)) as srv:
        s = tls_connect(srv, client_ctx(pki))
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        assert ask(s, b"put 0 0 10 5\r\nhello\r\n") == b"INSERTED 1\r\n"
        assert ask(s, b"reserve\r\n") == b"RESERVED 1 5\r\nhello\r\n"


@pytest.mark.parametrize(
    ("cert", "reason"), [("expired", "certificate has expired"), ("wrong", "unable to get local")]
)
def test_client_refuses_a_bad_server_certificate(pki: Pki, cert: str, reason: str) -> None:
    with running("tubeworks", *tls_flags(pki, cert)) as srv:
        with pytest.raises(ssl.SSLCertVerificationError, match=reason):
            tls_connect(srv, client_ctx(pki))
        s = tls_connect(srv, ssl._create_unverified_context())  # the server itself is fine
        assert ask(s, b"list-tube-used\r\n") == b"USING default\r\n"


def test_client_certificate_required_when_a_client_ca_is_given(pki: Pki) -> None:
    with running("tubeworks", *tls_flags(pki, client_ca=True)) as srv:
        for cert in (None, "stranger"):
            try:
                s = tls_connect(srv, client_ctx(pki, cert))
                reply = ask(s, b"stats\r\n")  # TLS 1.3: the refusal shows on the first read
            except (ssl.SSLError, ConnectionError):
                reply = b""
            assert reply == b""
        ok = tls_connect(srv, client_ctx(pki, "mailer"))
        assert ask(ok, b"use emails\r\n") == b"USING emails\r\n"


def test_plain_text_client_on_a_tls_port_gets_nothing_useful(pki: Pki) -> None:
    with running("tubeworks", *tls_flags(pki)) as srv:
        s = srv.connect()
        s.sendall(b"stats\r\n")
        s.settimeout(10)
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except ConnectionError:
            pass
        assert b"OK " not in data


def test_sighup_reloads_the_certificate_without_dropping_connections(
    pki: Pki, tmp_path: Path
) -> None:
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    cert.write_bytes(Path(pki.path("server.pem")).read_bytes())
    key.write_bytes(Path(pki.path("server.key")).read_bytes())
    with running("tubeworks", "--tls-cert", str(cert), "--tls-key", str(key)) as srv:
        old = tls_connect(srv, client_ctx(pki))
        first = old.getpeercert(binary_form=True)
        cert.write_bytes(Path(pki.path("server2.pem")).read_bytes())
        key.write_bytes(Path(pki.path("server2.key")).read_bytes())
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            new = tls_connect(srv, client_ctx(pki))
            if new.getpeercert(binary_form=True) != first:
                break
            new.close()
            assert time.monotonic() < deadline, "SIGHUP did not reload the certificate"
            time.sleep(0.02)
        assert ask(old, b"list-tube-used\r\n") == b"USING default\r\n"  # still open
        assert ask(new, b"list-tube-used\r\n") == b"USING default\r\n"


RULES = """
[identity:web]
token = web-secret
put = emails img-*

[identity:worker]
token-sha256 = {worker_digest}
reserve = emails
admin = emails

[identity:mailer]
tls-name = mailer.internal
reserve = emails

[anonymous]
put = public
"""


@pytest.fixture
def rules(tmp_path: Path) -> str:
    import hashlib

    path = tmp_path / "rules.ini"
    path.write_text(RULES.format(worker_digest=hashlib.sha256(b"worker-secret").hexdigest()))
    return str(path)


def stat_value(srv: RunningServer, key: str, sock: socket.socket) -> str:
    sock.sendall(b"stats\r\n")
    data = b""
    while not data.endswith(b"\n\r\n"):
        data += sock.recv(65536)
    for line in data.decode().splitlines():
        if line.startswith(key + ": "):
            return line.split(": ", 1)[1]
    raise AssertionError(key)


def test_tokens_and_rules(rules: str) -> None:
    with running("tubeworks", "--auth-file", rules) as srv:
        anon = srv.connect()  # [anonymous] may put to "public", and so may read stats
        assert ask(anon, b"stats-tube default\r\n").startswith(b"OK ")
        assert ask(anon, b"put 0 0 10 1\r\nx\r\n") == b"UNAUTHORIZED\r\n"
        assert ask(anon, b"use public\r\nput 0 0 10 1\r\nx\r\n").endswith(b"INSERTED 1\r\n")
        assert ask(anon, b"auth nope\r\n") == b"UNAUTHORIZED\r\n"

        web = srv.connect()
        assert ask(web, b"auth web-secret\r\n") == b"OK AUTHENTICATED\r\n"
        assert ask(web, b"put 0 0 10 1\r\nx\r\n") == b"FORBIDDEN\r\n"  # default tube
        assert ask(web, b"use emails\r\nput 0 0 10 1\r\nm\r\n").endswith(b"INSERTED 2\r\n")
        assert ask(web, b"use img-1\r\nput 0 0 10 1\r\ni\r\n").endswith(b"INSERTED 3\r\n")
        assert ask(web, b"watch emails\r\n") == b"FORBIDDEN\r\n"
        assert ask(web, b"peek 2\r\n") == b"FORBIDDEN\r\n"
        assert ask(web, b"delete 2\r\n") == b"FORBIDDEN\r\n"

        worker = srv.connect()
        assert ask(worker, b"auth worker-secret\r\n") == b"OK AUTHENTICATED\r\n"
        assert ask(worker, b"reserve-with-timeout 0\r\n") == b"FORBIDDEN\r\n"  # watches default
        assert ask(worker, b"watch emails\r\nignore default\r\n").endswith(b"WATCHING 1\r\n")
        assert ask(worker, b"reserve\r\n") == b"RESERVED 2 1\r\nm\r\n"
        assert ask(worker, b"release 2 0 0\r\n") == b"RELEASED\r\n"
        assert ask(worker, b"use emails\r\nkick 5\r\n").endswith(b"KICKED 0\r\n")
        assert ask(worker, b"pause-tube img-1 1\r\n") == b"FORBIDDEN\r\n"
        assert ask(worker, b"delete 3\r\n") == b"FORBIDDEN\r\n"
        assert ask(worker, b"delete 2\r\n") == b"DELETED\r\n"  # admin on emails
        assert stat_value(srv, "access-refusals", worker) == "9"


def test_without_anonymous_rules_nothing_works_before_auth(tmp_path: Path) -> None:
    path = tmp_path / "rules.ini"
    path.write_text("[identity:admin]\ntoken = a\nadmin = *\nreserve = *\nput = *\n")
    with running("tubeworks", "--auth-file", str(path)) as srv:
        s = srv.connect()
        for command in (b"stats", b"list-tubes", b"use x", b"watch x", b"peek-ready", b"kick 1"):
            reply = ask(s, command + b"\r\n")
            assert reply in (b"UNAUTHORIZED\r\n", b"USING x\r\n"), command
        assert ask(s, b"auth a\r\n") == b"OK AUTHENTICATED\r\n"
        assert ask(s, b"kick 1\r\n") == b"KICKED 0\r\n"


def test_a_tls_identity_needs_no_auth_command(pki: Pki, rules: str) -> None:
    with running("tubeworks", "--auth-file", rules, *tls_flags(pki, client_ca=True)) as srv:
        s = tls_connect(srv, client_ctx(pki, "mailer"))
        assert ask(s, b"watch emails\r\n") == b"WATCHING 2\r\n"
        assert ask(s, b"use emails\r\nput 0 0 1 1\r\nx\r\n").endswith(b"FORBIDDEN\r\n")


def test_bad_rules_file_is_a_clear_startup_error(tmp_path: Path) -> None:
    bad = tmp_path / "rules.ini"
    bad.write_text("[identity:x]\ntoken = t\nputt = a\n")
    out = subprocess.run(
        [*tubeworks_argv(), "queue", "-p", str(free_port()), "--auth-file", str(bad)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 5
    assert out.stderr.strip() == f"tubeworks queue: {bad}: [identity:x] unknown key 'putt'"


def test_access_control_off_keeps_auth_unknown() -> None:
    with running("tubeworks") as srv:
        assert ask(srv.connect(), b"auth x\r\n") == b"UNKNOWN_COMMAND\r\n"


def test_max_connections_refuses_the_flood() -> None:
    with running("tubeworks", "--max-connections", "5") as srv:
        kept = [srv.connect() for _ in range(5)]
        for s in kept:
            assert ask(s, b"list-tube-used\r\n") == b"USING default\r\n"
        for _ in range(20):
            extra = srv.connect()
            extra.settimeout(10)
            assert extra.recv(100) == b"TOO_MANY_CONNECTIONS\r\n"
            assert extra.recv(100) == b""
        assert stat_value(srv, "limit-refusals", kept[0]) == "20"
        kept.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the freed place is taken again
            again = srv.connect()
            reply = ask(again, b"list-tube-used\r\n")
            if reply == b"USING default\r\n":
                break
            assert time.monotonic() < deadline, reply


def test_max_tubes() -> None:
    with running("tubeworks", "--max-tubes", "3") as srv:
        s = srv.connect()
        assert ask(s, b"use a\r\n") == b"USING a\r\n"
        assert ask(s, b"watch b\r\n") == b"WATCHING 2\r\n"
        assert ask(s, b"use c\r\n") == b"TOO_MANY_TUBES\r\n"
        assert ask(s, b"watch c\r\n") == b"TOO_MANY_TUBES\r\n"
        assert ask(s, b"use b\r\n") == b"USING b\r\n"  # existing tubes are fine
        assert ask(s, b"use c\r\n") == b"USING c\r\n"  # "a" vanished when unused


def test_max_pending_bytes_drops_a_client_that_does_not_read() -> None:
    with running("tubeworks", "--max-pending-bytes", "100000") as srv:
        s = srv.connect()
        body = b"x" * 60000
        assert ask(s, b"put 0 0 10 %d\r\n%s\r\n" % (len(body), body)) == b"INSERTED 1\r\n"
        hog = srv.connect()
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            for _ in range(200):
                hog.sendall(b"peek 1\r\n" * 100)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + 10
        while stat_value(srv, "limit-refusals", s) != "1":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert ask(s, b"list-tube-used\r\n") == b"USING default\r\n"


def test_idle_timeout_closes_silent_clients_but_not_waiting_ones() -> None:
    with running("tubeworks", "--idle-timeout", "1") as srv:
        idle = srv.connect()
        waiting = srv.connect()
        waiting.sendall(b"reserve\r\n")
        idle.settimeout(10)
        assert idle.recv(10) == b""  # closed by the server
        other = srv.connect()
        assert ask(other, b"put 0 0 10 1\r\nx\r\n") == b"INSERTED 1\r\n"
        waiting.settimeout(10)
        assert waiting.recv(100) == b"RESERVED 1 1\r\nx\r\n"


def test_unix_socket_permissions(tmp_path: Path) -> None:
    path = tmp_path / "q.sock"
    proc = subprocess.Popen(
        [*tubeworks_argv(), "queue", "-l", f"unix:{path}", "--unix-mode", "0600"]
    )
    try:
        deadline = time.monotonic() + 10
        while not path.exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
