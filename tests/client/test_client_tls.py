"""TLS and ``auth`` in the clients, against a real ``tubeworks queue --tls-cert ... --auth-file``.

Every handshake is real (certificates from ``tests/tls_certs.py``); the first tests need no
server at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import threading
import time
from pathlib import Path

import pytest

from servers import running
from tls_certs import Pki
from tubeworks.client import (
    Address,
    AsyncClient,
    Client,
    ClientClosed,
    ConnectFailed,
    ConnectionBroken,
    Forbidden,
    LocalProtocolError,
    Security,
    TlsHandshakeFailed,
    TooManyConnections,
    TooManyTubes,
    Unauthorized,
    parse_address,
)
from tubeworks.client import protocol as p

RULES = """
[identity:web]
token = web-secret
put = emails

[identity:worker]
token-sha256 = {digest}
put = emails
reserve = emails

[identity:mailer]
tls-name = mailer.internal
reserve = emails
"""


@pytest.fixture
def rules(tmp_path: Path) -> str:
    path = tmp_path / "rules.ini"
    path.write_text(RULES.format(digest=hashlib.sha256(b"worker-secret").hexdigest()))
    return str(path)


# -- no server needed ---------------------------------------------------------------------------


def test_tls_scheme_in_addresses() -> None:
    assert parse_address("tls://localhost:11400") == Address("localhost", 11400, tls=True)
    assert str(parse_address("tls://[::1]")) == "tls://[::1]:11300"
    assert parse_address("localhost:11400").tls is False
    with pytest.raises(
        LocalProtocolError, match=r"^expected 'tls://host:port', got 'tls://unix:/s'$"
    ):
        parse_address("tls://unix:/s")


def test_when_tls_is_on(tls_pki: Pki) -> None:
    tcp, tls_addr, unix = Address("h", 1), Address("h", 1, tls=True), Address(path="/s")
    assert not Security().wants_tls(tcp)
    assert Security().wants_tls(tls_addr)
    assert Security(tls_ca=tls_pki.pem("ca")).wants_tls(tcp)  # a CA file means TLS
    assert not Security(tls=False).wants_tls(tls_addr)  # an explicit "no" wins
    assert not Security(tls_ca=tls_pki.pem("ca")).wants_tls(unix)  # unix sockets: never
    with pytest.raises(
        LocalProtocolError, match=r"^TLS needs a TCP address \(host:port\), got 'unix:/s'$"
    ):
        Security(tls=True).wants_tls(unix)


def test_bad_settings_fail_before_connecting(tls_pki: Pki, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(LocalProtocolError, match=r"^cannot load TLS CA file '.*nope.pem': "):
        Client("tls://localhost:1", tls_ca=missing, lazy=True)
    with pytest.raises(LocalProtocolError, match=r"^cannot load TLS client certificate '.*nope"):
        Client("tls://localhost:1", tls_cert=missing, lazy=True)
    with pytest.raises(LocalProtocolError, match=r"^tls_key given without tls_cert$"):
        Client("tls://localhost:1", tls_key=tls_pki.key("mailer"), lazy=True)
    with pytest.raises(LocalProtocolError, match=r"not both$"):
        Client(
            "localhost", 1, tls=ssl.create_default_context(), tls_ca=tls_pki.pem("ca"), lazy=True
        )
    with pytest.raises(
        LocalProtocolError,
        match=r"^auth token must be 1-217 printable ASCII characters without spaces, "
        r"got 7 characters$",
    ):
        Client("localhost", 1, token="two wds", lazy=True)


def test_token_stays_out_of_reprs() -> None:
    client = Client("localhost", 1, token="s3cret", lazy=True)
    assert "s3cret" not in repr(client) + repr(client.security)
    assert client.security.token == "s3cret"


def test_authenticated_is_an_ok_reply_without_a_body() -> None:
    parser = p.ReplyParser()
    parser.feed(b"OK AUTHENTICATED\r\nUNAUTHORIZED\r\nFORBIDDEN\r\nTOO_MANY_TUBES\r\n")
    replies = [parser.next() for _ in range(4)]
    assert [(r.word, r.body) for r in replies if isinstance(r, p.Reply)] == [
        (b"OK", None),
        (b"UNAUTHORIZED", None),
        (b"FORBIDDEN", None),
        (b"TOO_MANY_TUBES", None),
    ]
    assert parser.next() is p.NEED_DATA


# -- against a real server ----------------------------------------------------------------------


def test_good_handshake_by_name_and_by_address(tls_pki: Pki) -> None:
    with running("tubeworks", *tls_pki.server_flags()) as srv:
        with Client(f"tls://localhost:{srv.port}", tls_ca=tls_pki.pem("ca")) as c:
            assert c.put(b"hello") == 1
            assert c.reserve(timeout=0).body == b"hello"
            assert c._sock is not None and isinstance(c._sock, ssl.SSLSocket)
        # tls_ca alone turns TLS on; the certificate also names 127.0.0.1
        with Client("127.0.0.1", srv.port, tls_ca=tls_pki.pem("ca")) as c:
            assert c.peek(1).body == b"hello"


@pytest.mark.parametrize(
    ("cert", "settings", "why"),
    [
        ("expired", {}, "certificate has expired"),
        ("wrong", {}, "unable to get local issuer certificate"),
        ("server", {"server_hostname": "queue.example"}, "Hostname mismatch"),
        ("server", {"tls_ca": None}, "unable to get local issuer certificate"),  # system CAs
    ],
)
def test_untrusted_server_certificates_are_refused(
    tls_pki: Pki, cert: str, settings: dict[str, str | None], why: str
) -> None:
    kwargs = {"tls_ca": tls_pki.pem("ca"), **settings}
    with running("tubeworks", *tls_pki.server_flags(cert)) as srv:
        with pytest.raises(
            TlsHandshakeFailed,
            match=rf"^TLS handshake with tls://localhost:{srv.port} failed: "
            rf"server certificate not trusted: {why}",
        ):
            Client(f"tls://localhost:{srv.port}", **kwargs)  # type: ignore[arg-type]
        # ... unless verification is switched off explicitly
        with Client(f"tls://localhost:{srv.port}", tls_verify=False) as c:
            assert c.using() == "default"
        with Client("localhost", srv.port, tls=ssl._create_unverified_context()) as c:
            assert c.using() == "default"


def test_tls_client_and_plain_server_do_not_mix(tls_pki: Pki) -> None:
    timed_out = pytest.raises(ConnectFailed, match=r"^TLS handshake with .* failed: timed out$")
    with running("tubeworks") as plain, timed_out:  # it waits for a line that never ends
        Client(f"tls://localhost:{plain.port}", tls_ca=tls_pki.pem("ca"), connect_timeout=0.5)


def test_client_certificate_is_an_identity(tls_pki: Pki, rules: str) -> None:
    flags = [*tls_pki.server_flags(client_ca=True), "--auth-file", rules]
    with running("tubeworks", *flags) as srv:
        addr = f"tls://localhost:{srv.port}"
        # No client certificate: the server ends the session after the handshake (TLS 1.3).
        with pytest.raises(
            (TlsHandshakeFailed, ConnectionBroken),
            match=r"(refused the TLS session: .*certificate|"
            r"connection lost while restoring tubes: .* client certificate \(tls_cert\))",
        ):
            Client(addr, tls_ca=tls_pki.pem("ca"), watch="emails")
        mailer = Client(
            addr,
            tls_ca=tls_pki.pem("ca"),
            tls_cert=tls_pki.pem("mailer"),
            tls_key=tls_pki.key("mailer"),
            watch="emails",  # needs the reserve right: granted by the certificate, no token
        )
        with mailer:
            assert mailer.watching() == ["emails"]
            with pytest.raises(Forbidden, match=r"^put: FORBIDDEN$"):
                mailer.put(b"x")


def test_token_auth_survives_a_server_restart(rules: str, tls_pki: Pki) -> None:
    flags = [*tls_pki.server_flags(), "--auth-file", rules]
    with running("tubeworks", *flags) as srv:
        port = srv.port
        client = Client(
            f"tls://localhost:{port}",
            tls_ca=tls_pki.pem("ca"),
            token="worker-secret",
            use="emails",
            watch="emails",
        )
        client.put(b"before")
        assert client.reserve(timeout=0).body == b"before"
    with running("tubeworks", *flags, port=port):  # a new server (and no jobs) on the same port
        assert client.put(b"after") == 1  # reconnected: auth, then use/watch restored
        assert client.watching() == ["emails"]
        assert client.using() == "emails"
        assert client.reserve(timeout=0).body == b"after"
        client.close()


def test_refused_tokens_and_rights(rules: str) -> None:
    with running("tubeworks", "--auth-file", rules) as srv:
        with pytest.raises(Unauthorized, match=r"^auth: UNAUTHORIZED$"):
            Client("localhost", srv.port, token="wrong")
        anonymous = Client("localhost", srv.port)
        with pytest.raises(Unauthorized, match=r"^stats: UNAUTHORIZED$"):
            anonymous.stats()
        anonymous.close()
        with Client("localhost", srv.port, token="web-secret") as web:
            with pytest.raises(Forbidden, match=r"^put: FORBIDDEN$"):
                web.put(b"x")  # into "default"
            web.use("emails")
            assert web.put(b"x") == 1
            with pytest.raises(Forbidden, match=r"^watch: FORBIDDEN$"):
                web.watch("emails")
            assert web.watching() == ["default"]  # the refused watch is not replayed later
        with pytest.raises(Forbidden, match=r"^watch: FORBIDDEN$"):
            Client("localhost", srv.port, token="web-secret", watch="emails")


def test_limits_are_typed_errors() -> None:
    limits = ("--max-connections", "1", "--max-tubes", "2")
    with running("tubeworks", *limits) as srv, Client("localhost", srv.port, lazy=True) as first:
        deadline = time.monotonic() + 10
        while True:  # until the server has let go of the start-up probe's connection
            try:
                assert first.use("a") == "a"
                break
            except TooManyConnections:
                assert time.monotonic() < deadline
        with pytest.raises(TooManyTubes, match=r"^use: TOO_MANY_TUBES$"):
            first.use("b")
        with pytest.raises(TooManyConnections, match=r"TOO_MANY_CONNECTIONS$"):
            Client("localhost", srv.port).tubes()


def test_abort_ends_a_blocked_reserve_over_tls(tls_pki: Pki) -> None:
    with running("tubeworks", *tls_pki.server_flags()) as srv:
        client = Client(f"tls://localhost:{srv.port}", tls_ca=tls_pki.pem("ca"))
        raised: list[BaseException] = []

        def reserve() -> None:
            try:
                client.reserve()
            except BaseException as exc:
                raised.append(exc)

        thread = threading.Thread(target=reserve)
        thread.start()
        deadline = time.monotonic() + 10
        while _waiting(srv.port, tls_pki) == 0:  # until the reserve is blocked in the server
            assert time.monotonic() < deadline
        client.abort()
        thread.join(10)
        assert not thread.is_alive()
        assert [type(e) for e in raised] == [ClientClosed]


def _waiting(port: int, pki: Pki) -> int:
    with Client(f"tls://localhost:{port}", tls_ca=pki.pem("ca")) as probe:
        return probe.stats().current_waiting


def test_async_client_tls_and_token(tls_pki: Pki, rules: str) -> None:
    async def main(port: int) -> None:
        addr = f"tls://localhost:{port}"
        async with AsyncClient(
            addr, tls_ca=tls_pki.pem("ca"), token="worker-secret", use="emails", watch="emails"
        ) as c:
            await c.put(b"async")
            assert (await c.reserve(timeout=0)).body == b"async"
            assert await c.watching() == ["emails"]
        with pytest.raises(TlsHandshakeFailed, match=r"unable to get local issuer certificate"):
            await AsyncClient(addr).connect()
        with pytest.raises(Unauthorized, match=r"^auth: UNAUTHORIZED$"):
            await AsyncClient(addr, tls_ca=tls_pki.pem("ca"), token="nope").connect()

    with running("tubeworks", *tls_pki.server_flags(), "--auth-file", rules) as srv:
        asyncio.run(main(srv.port))
