"""Who may do what: identities, their rules, and the per-connection guard. No I/O but reading
the rules file.

beanstalkd has no authentication at all, so every existing client must keep working:

* a client with a TLS certificate the server trusts is identified by it (no command needed);
* any other client sends ``auth <token>`` first (our client does; others send it as a raw
  command), or gets the rules of ``[anonymous]`` (by default: nothing).

Rules name tube patterns (``fnmatch``: ``emails``, ``img-*``) for three rights:

* ``put``     — ``put`` into the tube (``use`` is always allowed: it only picks a tube);
* ``reserve`` — ``watch`` it and take its jobs (``reserve*``, ``peek*``, and
  ``release``/``bury``/``touch``/``delete`` of jobs this connection reserved);
* ``admin``   — ``kick``, ``kick-job``, ``pause-tube``, and ``delete`` of jobs not reserved by
  this connection.

``stats``, ``stats-tube``, ``stats-job``, ``list-*`` and ``quit`` need only a known identity.

Rules file (``--auth-file``)::

    [identity:web]
    token = change-me            ; or token-sha256 = <hex digest of the token>
    put = emails img-*

    [identity:mailer]
    tls-name = mailer.internal   ; the client certificate's CN or a DNS name in it
    reserve = emails
    admin = emails

    [anonymous]                  ; connections that never authenticate (optional)
    put = public
"""

from __future__ import annotations

import configparser
import enum
import fnmatch
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from tubeworks.errors import TubeworksError
from tubeworks.queue import protocol as P

Op = P.Op

UNAUTHORIZED: Final = b"UNAUTHORIZED\r\n"
FORBIDDEN: Final = b"FORBIDDEN\r\n"
AUTHENTICATED: Final = b"OK AUTHENTICATED\r\n"


class Right(enum.Enum):
    PUT = "put"
    RESERVE = "reserve"
    ADMIN = "admin"


class AccessConfigError(TubeworksError):
    """The rules file is wrong; the message names the file, section and key."""


@dataclass(frozen=True)
class Identity:
    """A named client and the tube patterns it holds each right on."""

    name: str
    token_sha256: str | None = None
    tls_name: str | None = None
    rights: dict[Right, tuple[str, ...]] = field(default_factory=dict)

    def allows(self, right: Right, tube: bytes) -> bool:
        name = tube.decode("ascii")
        return any(fnmatch.fnmatchcase(name, p) for p in self.rights.get(right, ()))


NOBODY: Final = Identity("anonymous")


@dataclass(frozen=True)
class Policy:
    """Every identity, findable by token or by TLS name."""

    identities: tuple[Identity, ...]
    anonymous: Identity = NOBODY

    def by_token(self, token: bytes) -> Identity | None:
        digest = hashlib.sha256(token).hexdigest()
        found = None
        for ident in self.identities:  # compare with every one: no early exit to time
            if ident.token_sha256 is not None and hmac.compare_digest(ident.token_sha256, digest):
                found = ident
        return found

    def by_tls_names(self, names: Iterable[str]) -> Identity | None:
        wanted = set(names)
        for ident in self.identities:
            if ident.tls_name is not None and ident.tls_name in wanted:
                return ident
        return None


_KEYS: Final = {"token", "token-sha256", "tls-name", "put", "reserve", "admin"}


def load_policy(path: str) -> Policy:
    """Read a rules file. Raises :class:`AccessConfigError` with file, section and key."""
    parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as exc:
        raise AccessConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except configparser.Error as exc:
        raise AccessConfigError(f"{path}: {exc.message}") from exc
    identities = []
    anonymous = NOBODY
    for section in parser.sections():
        values = parser[section]
        unknown = sorted(set(values) - _KEYS)
        if unknown:
            raise AccessConfigError(f"{path}: [{section}] unknown key {unknown[0]!r}")
        rights = {r: tuple(_patterns(values.get(r.value, ""))) for r in Right}
        if section == "anonymous":
            if {"token", "token-sha256", "tls-name"} & set(values):
                raise AccessConfigError(f"{path}: [anonymous] takes only put, reserve, admin")
            anonymous = Identity("anonymous", rights=rights)
            continue
        if not section.startswith("identity:") or section == "identity:":
            raise AccessConfigError(
                f"{path}: unknown section [{section}] (expected [identity:NAME] or [anonymous])"
            )
        token = values.get("token")
        digest = values.get("token-sha256")
        if token and digest:
            raise AccessConfigError(f"{path}: [{section}] give token or token-sha256, not both")
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()
        if digest is not None and len(digest) != 64:
            raise AccessConfigError(f"{path}: [{section}] token-sha256: expected 64 hex digits")
        tls_name = values.get("tls-name") or None
        if not digest and not tls_name:
            raise AccessConfigError(f"{path}: [{section}] needs a token or a tls-name")
        identities.append(Identity(section[9:], digest, tls_name, rights))
    return Policy(tuple(identities), anonymous)


def _patterns(text: str) -> list[str]:
    return [p for p in text.replace(",", " ").split() if p]


class Guard:
    """One connection's identity and the check run before each of its commands."""

    __slots__ = ("identity", "policy", "refusals")

    def __init__(self, policy: Policy, identity: Identity | None) -> None:
        self.policy = policy
        self.identity = identity  # None: not authenticated yet (anonymous rules apply)
        self.refusals = 0

    def auth(self, token: bytes) -> bytes:
        found = self.policy.by_token(token)
        if found is None:
            self.refusals += 1
            return UNAUTHORIZED
        self.identity = found
        return AUTHENTICATED

    def check(self, cmd: tuple[Any, ...], conn: Any, core: Any) -> bytes | None:
        """The refusal to answer instead of running ``cmd``, or None to run it."""
        op = cmd[0]
        if op in _ALWAYS:
            return None
        ident = self.identity or self.policy.anonymous
        if op in _NEEDS_IDENTITY:
            if self.identity is None and not any(ident.rights.values()):
                return self._refuse(UNAUTHORIZED)
            return None
        tubes: Iterable[bytes]
        if op == Op.PUT or op == Op.PUT_BAD_BODY:
            right, tubes = Right.PUT, (conn.use.name,)
        elif op in (Op.RESERVE, Op.RESERVE_TIMEOUT):
            right, tubes = Right.RESERVE, [t.name for t in conn.watch]
        elif op == Op.WATCH:
            right, tubes = Right.RESERVE, (cmd[1],)
        elif op in (Op.PEEK_READY, Op.PEEK_DELAYED, Op.PEEK_BURIED):
            right, tubes = Right.RESERVE, (conn.use.name,)
        elif op in (Op.PEEK, Op.RESERVE_JOB):
            job = core.jobs.get(cmd[1])
            if job is None:
                return None  # NOT_FOUND either way; says nothing about other tubes
            right, tubes = Right.RESERVE, (job.tube.name,)
        elif op == Op.DELETE:
            job = core.jobs.get(cmd[1])
            if job is None or job.owner is conn:
                return None
            right, tubes = Right.ADMIN, (job.tube.name,)
        elif op == Op.KICK:
            right, tubes = Right.ADMIN, (conn.use.name,)
        elif op == Op.KICK_JOB:
            job = core.jobs.get(cmd[1])
            if job is None:
                return None
            right, tubes = Right.ADMIN, (job.tube.name,)
        elif op == Op.PAUSE_TUBE:
            right, tubes = Right.ADMIN, (cmd[1],)
        else:  # release, bury, touch: only ever act on this connection's own reservations
            return None
        if all(ident.allows(right, t) for t in tubes):
            return None
        return self._refuse(FORBIDDEN if self.identity is not None else UNAUTHORIZED)

    def _refuse(self, reply: bytes) -> bytes:
        self.refusals += 1
        return reply


_ALWAYS: Final = frozenset({Op.QUIT, Op.REPLY, Op.USE, Op.IGNORE, Op.RELEASE, Op.BURY, Op.TOUCH})
_NEEDS_IDENTITY: Final = frozenset(
    {
        Op.STATS,
        Op.STATS_JOB,
        Op.STATS_TUBE,
        Op.LIST_TUBES,
        Op.LIST_TUBE_USED,
        Op.LIST_TUBES_WATCHED,
    }
)
