"""Bad input never crashes the AMI parser (R-SAFE-1): hypothesis over real trace bytes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccagent.pbx.ami.parser import AmiMessage, AmiParser

AST = Path(__file__).resolve().parents[2] / "traces" / "asterisk"
SAMPLE = (AST / "23-cyrillic-caller-name" / "ami.log").read_bytes()[:6000]
BLOCKS = [b + b"\r\n\r\n" for b in SAMPLE.split(b"\r\n\r\n") if b]

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed_all(p: AmiParser, data: bytes, cuts: list[int]) -> list[AmiMessage]:
    out: list[AmiMessage] = []
    prev = 0
    for c in sorted(set(min(c, len(data)) for c in cuts)):
        out += p.feed(data[prev:c])
        prev = c
    out += p.feed(data[prev:])
    return out


def check_invariants(p: AmiParser, msgs: list[AmiMessage]) -> None:
    for m in msgs:
        assert isinstance(m, AmiMessage)
        assert "Event" in m or "Response" in m or "Action" in m
        for k, v in m.raw_headers:
            assert isinstance(k, str) and isinstance(v, str)
    assert p.buffered <= p.max_message_bytes + 1


@FUZZ
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=20))
def test_r_safe_1_random_bytes(data: bytes, cuts: list[int]) -> None:
    p = AmiParser(max_message_bytes=2048)
    check_invariants(p, feed_all(p, data, cuts))


@FUZZ
@given(
    st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=30),
    st.lists(st.integers(0, 20000), max_size=15),
    st.data(),
)
def test_r_safe_1_duplicated_reordered_truncated_blocks(blocks: list[bytes], cuts: list[int], data) -> None:  # type: ignore[no-untyped-def]
    """Duplicates / reordering are the consumer's problem: the parser must yield each block as sent."""
    truncate = data.draw(st.integers(0, len(blocks[-1])))
    stream = b"".join(blocks[:-1]) + blocks[-1][:truncate]
    p = AmiParser()
    msgs = feed_all(p, stream, cuts)
    check_invariants(p, msgs)
    assert len(msgs) == len(blocks) - 1 or len(msgs) == len(blocks)
    assert p.malformed == 0


@FUZZ
@given(
    st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=10),
    st.lists(st.tuples(st.integers(0, 20000), st.binary(min_size=1, max_size=40)), max_size=8),
    st.lists(st.integers(0, 20000), max_size=10),
)
def test_r_safe_1_garbage_injected(
    blocks: list[bytes], junk: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(blocks)
    for pos, j in sorted(junk, reverse=True):
        pos = min(pos, len(stream))
        stream = stream[:pos] + j + stream[pos:]
    p = AmiParser()
    msgs = feed_all(p, stream, cuts)
    check_invariants(p, msgs)
    # nothing vanishes silently: every block is a message or counted as malformed
    assert len(msgs) + p.malformed + (1 if p.buffered else 0) >= 1


@FUZZ
@given(st.integers(1, 40), st.integers(100, 5000))
def test_r_safe_1_huge_lines_are_bounded(n_chunks: int, chunk: int) -> None:
    p = AmiParser(max_message_bytes=4096)
    head = b"Event: Huge\r\nValue: "
    out = p.feed(head)
    for _ in range(n_chunks):
        out += p.feed(b"z" * chunk)
        assert p.buffered <= 4096 + chunk
    out += p.feed(b"\r\n\r\nEvent: Ok\r\n\r\n")
    events = [m.event for m in out]
    assert events[-1] == "Ok"
    if len(head) + n_chunks * chunk > 4096:
        assert events == ["Ok"] and p.oversize == 1
    else:
        assert events == ["Huge", "Ok"]
