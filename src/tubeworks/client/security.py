"""TLS and token settings of a client connection, and the SSL context they make.

``tubeworks queue`` can require TLS and an ``auth <token>`` (docs/queue-security.md). The
clients take the settings as keyword arguments; the admin CLI and the worker read defaults from
the environment (:meth:`Security.from_env`):

* ``TUBEWORKS_TOKEN``     the token sent as ``auth <token>`` after every (re)connect;
* ``TUBEWORKS_TLS_CA``    CA certificates (PEM) to verify the server with;
* ``TUBEWORKS_TLS_CERT``  a client certificate (PEM), for servers started with ``--tls-client-ca``;
* ``TUBEWORKS_TLS_KEY``   its private key (if not in the certificate file).

When is TLS on? ``tls=True`` or an :class:`ssl.SSLContext`, a ``tls://host:port`` address, or a
CA or client certificate given; ``tls=False`` turns it off whatever else says. Verification of
the server's certificate (chain and host name) is on unless ``tls_verify=False``; without
``tls_ca`` the system's CAs are trusted. Unix sockets never carry TLS.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tubeworks.client.address import Address
from tubeworks.client.errors import LocalProtocolError

__all__ = ["ENV_TLS_CA", "ENV_TLS_CERT", "ENV_TLS_KEY", "ENV_TOKEN", "Security"]

ENV_TOKEN = "TUBEWORKS_TOKEN"
ENV_TLS_CA = "TUBEWORKS_TLS_CA"
ENV_TLS_CERT = "TUBEWORKS_TLS_CERT"
ENV_TLS_KEY = "TUBEWORKS_TLS_KEY"


@dataclass(frozen=True, slots=True)
class Security:
    """How to secure one client's connections (see the module docstring for the rules)."""

    tls: bool | ssl.SSLContext | None = None  # None: decided by the address and the files given
    tls_ca: str | None = None  # CA file (PEM); None: the system's CAs
    tls_cert: str | None = None  # client certificate file (PEM)
    tls_key: str | None = None  # its key file; None: the key is in tls_cert
    tls_verify: bool = True  # False skips every check of the server's certificate
    server_hostname: str | None = None  # name the certificate must carry; None: the address host
    token: str | None = field(default=None, repr=False)  # a secret: kept out of reprs and logs

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        tls: bool | None = None,
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_verify: bool = True,
        token: str | None = None,
    ) -> Security:
        """Settings given explicitly (not None), else from ``TUBEWORKS_*`` variables."""
        env = os.environ if environ is None else environ
        return cls(
            tls=tls,
            tls_ca=tls_ca or env.get(ENV_TLS_CA) or None,
            tls_cert=tls_cert or env.get(ENV_TLS_CERT) or None,
            tls_key=tls_key or env.get(ENV_TLS_KEY) or None,
            tls_verify=tls_verify,
            token=token or env.get(ENV_TOKEN) or None,
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~tubeworks.client.Client` and ``AsyncClient``."""
        return {
            "tls": self.tls,
            "tls_ca": self.tls_ca,
            "tls_cert": self.tls_cert,
            "tls_key": self.tls_key,
            "tls_verify": self.tls_verify,
            "server_hostname": self.server_hostname,
            "token": self.token,
        }

    def wants_tls(self, address: Address) -> bool:
        """Does a connection to ``address`` use TLS?

        Raises:
            LocalProtocolError: TLS was asked for explicitly with a unix socket address.
        """
        if self.tls is False:
            return False
        explicit = self.tls is True or isinstance(self.tls, ssl.SSLContext)
        if address.path is not None:
            if explicit:
                raise LocalProtocolError(
                    f"TLS needs a TCP address (host:port), got {str(address)!r}"
                )
            return False
        return explicit or address.tls or bool(self.tls_ca or self.tls_cert)

    def context(self, address: Address) -> ssl.SSLContext | None:
        """The SSL context for ``address``, or None for plain TCP / unix sockets.

        Raises:
            LocalProtocolError: conflicting settings, or a certificate file that cannot be read.
        """
        if not self.wants_tls(address):
            return None
        if isinstance(self.tls, ssl.SSLContext):
            if self.tls_ca or self.tls_cert or self.tls_key or not self.tls_verify:
                raise LocalProtocolError(
                    "give tls_ca/tls_cert/tls_key/tls_verify or an SSLContext as tls, not both"
                )
            return self.tls
        if self.tls_key and not self.tls_cert:
            raise LocalProtocolError("tls_key given without tls_cert")
        try:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.tls_ca)
        except (OSError, ssl.SSLError) as exc:
            raise LocalProtocolError(
                f"cannot load TLS CA file {self.tls_ca!r}: {_why(exc)}"
            ) from exc
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # the same floor as tubeworks queue
        if not self.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.tls_cert:
            try:
                ctx.load_cert_chain(self.tls_cert, self.tls_key)
            except (OSError, ssl.SSLError) as exc:
                files = f"{self.tls_cert!r}" + (f" and {self.tls_key!r}" if self.tls_key else "")
                raise LocalProtocolError(
                    f"cannot load TLS client certificate {files}: {_why(exc)}"
                ) from exc
        return ctx

    def hostname(self, address: Address) -> str:
        """The name the server's certificate must be for."""
        return self.server_hostname or address.host


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


def handshake_failure(exc: ssl.SSLError) -> str:
    """Why a TLS handshake failed, in words a user can act on."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"server certificate not trusted: {exc.verify_message}"
    reason = str(exc.reason or exc).lower().replace("_", " ")
    if "wrong version number" in reason or "record layer failure" in reason:
        reason += " (is the server speaking TLS?)"
    return reason


def refused_session(exc: BaseException) -> str | None:
    """The reason if ``exc`` is the server ending the TLS session with an alert (with TLS 1.3 a
    missing or untrusted client certificate shows only on the first read), else None."""
    if isinstance(exc, ssl.SSLError) and "ALERT" in str(exc.reason or ""):
        return str(exc.reason).lower().replace("_", " ")
    return None
