"""The reply parser and command encoders, bytes in and bytes out (no sockets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tubeworks.client import protocol as p
from tubeworks.client.errors import LocalProtocolError, RemoteProtocolError


def parse_all(*chunks: bytes) -> list[p.Reply | p.Sentinel]:
    parser = p.ReplyParser()
    out: list[p.Reply | p.Sentinel] = []
    r: p.Reply | p.Sentinel = parser.next()
    for chunk in chunks:
        parser.feed(chunk)
        while isinstance(r := parser.next(), p.Reply):
            out.append(r)
    out.append(r)
    return out


def test_simple_replies_in_one_chunk() -> None:
    got = parse_all(b"INSERTED 12\r\nDELETED\r\nWATCHING 2\r\nKICKED 0\r\n")
    assert [(r.word, r.args) for r in got[:-1]] == [  # type: ignore[union-attr]
        (b"INSERTED", (b"12",)),
        (b"DELETED", ()),
        (b"WATCHING", (b"2",)),
        (b"KICKED", (b"0",)),
    ]
    assert got[-1] is p.NEED_DATA


def test_body_reply_may_contain_crlf_and_arrive_split() -> None:
    got = parse_all(b"RESERVED 7 4\r\na\r", b"\nb\r", b"\n")
    reply = got[0]
    assert isinstance(reply, p.Reply)
    assert (reply.word, reply.int_arg(), reply.body) == (b"RESERVED", 7, b"a\r\nb")


def test_empty_body() -> None:
    reply = parse_all(b"FOUND 3 0\r\n\r\n")[0]
    assert isinstance(reply, p.Reply) and reply.body == b""


def test_eof_without_reply_is_closed() -> None:
    assert parse_all(b"RESERVED 1 5\r\nab", b"") == [p.CLOSED]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HELLO\r\n", r"^expected a beanstalk reply, got b'HELLO'$"),
        (b"INSERTED x\r\n", r"^malformed INSERTED reply: b'INSERTED x'$"),
        (b"DELETED 1\r\n", r"^malformed DELETED reply: b'DELETED 1'$"),
        (b"OK 2\r\nabXY", r"^expected CRLF after a 2-byte body, got b'XY'$"),
        (b"USING a b\r\n", r"^malformed USING reply: b'USING a b'$"),
        (b"x" * 300, r"^expected a reply line of at most 224 bytes, got b'x{40}'\.\.\.$"),
    ],
)
def test_garbage_raises_remote_protocol_error(data: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        parse_all(data)


REPLIES = st.sampled_from(
    [
        b"INSERTED 1\r\n",
        b"RESERVED 99 3\r\nx\r\n\r\n",
        b"OK 14\r\n---\n- default\n\r\n",
        b"NOT_FOUND\r\n",
        b"USING a-b\r\n",
        b"BURIED\r\n",
        b"BURIED 5\r\n",
    ]
)


@given(st.lists(REPLIES, max_size=8), st.data())
def test_any_chunking_gives_the_same_replies(replies: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(replies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    pairs = zip([0, *cuts], [*cuts, len(stream)], strict=True)
    chunks = [stream[a:b] for a, b in pairs if b > a]  # an empty chunk would mean EOF
    whole = parse_all(*[c for c in [stream] if c])
    assert parse_all(*chunks) == whole
    assert parse_all(*[bytes([b]) for b in stream]) == whole
    assert len(whole) == len(replies) + 1


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_replies_or_a_protocol_error(data: bytes) -> None:
    try:
        got = parse_all(data, b"")
    except RemoteProtocolError:
        return
    assert got[-1] in (p.CLOSED, p.NEED_DATA)


def test_encode_put() -> None:
    assert p.encode_put(b"hi", 5, 0, 60) == b"put 5 0 60 2\r\nhi\r\n"
    assert p.encode_put(b"", 0, 1.2, 1) == b"put 0 2 1 0\r\n\r\n"  # fractions round up


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((b"x", -1, 0, 1), r"^priority must be in 0\.\.4294967295, got -1$"),
        ((b"x", 2**32, 0, 1), r"^priority must be in 0\.\.4294967295, got 4294967296$"),
        ((b"x", 1, "soon", 1), r"^delay must be an int, got 'soon'$"),
        ((b"x", 1, 0, -0.5), r"^ttr must be >= 0 seconds, got -0\.5$"),
        (("x", 1, 0, 1), r"^job body must be bytes or str, got str$"),
    ],
)
def test_encode_put_rejects_bad_arguments(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        p.encode_put(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "-x", "a b", "a:b", "é", "x" * 201])
def test_bad_tube_names(name: str) -> None:
    with pytest.raises(LocalProtocolError, match=r"^invalid tube name "):
        p.check_tube(name)


def test_good_tube_names() -> None:
    assert p.check_tube("A+/;.$_()9-x") == b"A+/;.$_()9-x"
    assert p.check_tube("x" * 200) == b"x" * 200


def test_yaml() -> None:
    body = b'---\nid: 1\ntube: "q"\nname: x: y\nempty:\n'
    assert p.parse_yaml_dict(body) == {"id": "1", "tube": "q", "name": "x: y", "empty": ""}
    assert p.parse_yaml_list(b"---\n- default\n- a\n") == ["default", "a"]
    with pytest.raises(RemoteProtocolError, match=r"^expected '- item' in a list, got 'a'$"):
        p.parse_yaml_list(b"---\na\n")
    with pytest.raises(RemoteProtocolError, match=r"^expected a YAML document starting"):
        p.parse_yaml_dict(b"id: 1\n")
