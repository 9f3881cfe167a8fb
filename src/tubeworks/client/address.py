"""Where a beanstalk server listens: ``host:port``, ``[v6]:port``, ``host`` or ``unix:/path``;
``tls://`` before a TCP address means "speak TLS" (see :mod:`.security`).

The command line and the clients share this. The default comes from the environment:
``TUBEWORKS_SERVER`` (same syntax), else ``BEANSTALKD_HOST``/``BEANSTALKD_PORT``, else
``127.0.0.1:11300``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tubeworks.client.errors import LocalProtocolError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11300  # beanstalkd's default port
ENV_VAR = "TUBEWORKS_SERVER"
TLS_SCHEME = "tls://"


@dataclass(frozen=True, slots=True)
class Address:
    """A TCP ``host``/``port`` pair, or a unix socket ``path`` (then host and port are unused)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    path: str | None = None
    tls: bool = False  # written tls://host:port: the client must speak TLS (TCP only)

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        text = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return TLS_SCHEME + text if self.tls else text


def parse_address(text: str) -> Address:
    """Parse ``host:port``, ``[::1]:port``, ``host`` (port 11300) or ``unix:/path``; any TCP
    form may start with ``tls://``."""
    text = text.strip()
    if text.startswith(TLS_SCHEME):
        tcp = parse_address(text[len(TLS_SCHEME) :])
        if tcp.path is not None or tcp.tls:
            raise LocalProtocolError(f"expected 'tls://host:port', got {text!r}")
        return Address(tcp.host, tcp.port, tls=True)
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise LocalProtocolError("expected a socket path after 'unix:', got nothing")
        return Address(path=path)
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise LocalProtocolError(f"expected '[ipv6]:port', got {text!r}")
        port_text = rest[1:] if rest else str(DEFAULT_PORT)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:  # bare IPv6 address without a port
        host, port_text = text, str(DEFAULT_PORT)
    else:
        host, port_text = text, str(DEFAULT_PORT)
    if not host:
        raise LocalProtocolError(f"expected 'host:port' or 'unix:/path', got {text!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise LocalProtocolError(f"expected a port in 1..65535, got {port_text!r} in {text!r}")
    return Address(host=host, port=int(port_text))


def default_address(environ: Mapping[str, str] | None = None) -> Address:
    """The server named by the environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        return parse_address(env[ENV_VAR])
    host = env.get("BEANSTALKD_HOST") or DEFAULT_HOST
    port = env.get("BEANSTALKD_PORT") or str(DEFAULT_PORT)
    return parse_address(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")


def make_address(host: str | Address, port: int | None, unix_path: str | None) -> Address:
    """Normalise the ways a client constructor can be told where to connect."""
    if isinstance(host, Address):
        return host
    if unix_path is not None:
        return Address(path=unix_path)
    if host.startswith(("unix:", TLS_SCHEME)):
        tcp = parse_address(host)
        return tcp if port is None or tcp.path else Address(tcp.host, port, tls=tcp.tls)
    if port is None and (":" in host or host.startswith("[")):
        return parse_address(host)
    return Address(host=host, port=DEFAULT_PORT if port is None else port)
