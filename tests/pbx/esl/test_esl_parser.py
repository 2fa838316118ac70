"""ESL frame parser: real traces, any byte split, lying lengths, fuzz (R-PBX-2, R-SAFE-1)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccagent.pbx.esl.capture import capture_files, iter_capture_events, iter_esl_capture
from ccagent.pbx.esl.parser import EslParser

TRACES = Path(__file__).resolve().parents[2] / "traces" / "freeswitch"


def _frames_sig(frames: list) -> list[tuple]:
    return [(f.content_type, tuple(sorted(f.headers.items())), f.body, f.malformed) for f in frames]


def _parse_all(data: bytes, chunks: list[int] | None = None) -> tuple[list, EslParser]:
    p = EslParser()
    out: list = []
    if chunks is None:
        out += p.feed(data)
    else:
        pos = 0
        for size in chunks:
            out += p.feed(data[pos : pos + size])
            pos += size
        out += p.feed(data[pos:])
    out += p.feed_eof()
    return out, p


@pytest.mark.parametrize("folder", sorted(p.name for p in TRACES.iterdir() if p.is_dir()))
def test_r_pbx_4_every_trace_parses_cleanly(folder: str) -> None:
    for path in capture_files(TRACES / folder):
        frames, parser = _parse_all(path.read_bytes())
        assert parser.malformed == 0, path
        assert frames[0].content_type == "auth/request"
        events = [f.event for f in frames if f.event is not None]
        assert events, path
        assert all("Event-Name" in e and "Event-Date-Timestamp" in e for e in events)
        # no frame lost or doubled: Event-Sequence values are unique (FreeSWITCH may send them out of order)
        seqs = [int(e["Event-Sequence"]) for e in events]
        assert len(set(seqs)) == len(seqs)


def test_plain_headers_are_url_decoded_and_inner_body_kept() -> None:
    events = list(iter_capture_events(TRACES / "08a-dialer-answered" / "esl.log"))
    job = next(e for e in events if e["Event-Name"] == "BACKGROUND_JOB")
    assert job["_body"] == "+OK f0f6edc4-8dcf-49a4-9914-279060aed8ed\n"
    assert job["Job-Command-Arg"].startswith("{origination_uuid=f0f6edc4")
    assert "Content-Length" not in job
    create = next(e for e in events if e["Event-Name"] == "CHANNEL_CREATE")
    assert create["Event-Date-GMT"].startswith("Tue, 24 Nov 2026")


def test_r_leg_1_cyrillic_caller_name_plain_and_json_shape() -> None:
    events = list(iter_capture_events(TRACES / "17-cyrillic-caller-name" / "esl.log"))
    names = {e.get("Caller-Caller-ID-Name") for e in events if e["Event-Name"] == "CHANNEL_CREATE"}
    assert "Іван Петренко" in names and "Мария Иванова" in names
    # JSON: Content-Length counts bytes; a JSON body with Cyrillic parses to the same value
    obj = {
        "Event-Name": "CHANNEL_CREATE",
        "Caller-Caller-ID-Name": "Іван Петренко",
        "Event-Date-Timestamp": "1",
    }
    body = json.dumps(obj, ensure_ascii=False).encode()
    frame = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body
    assert len(body) > len(body.decode())
    out, p = _parse_all(frame * 3)
    assert [f.event["Caller-Caller-ID-Name"] for f in out] == ["Іван Петренко"] * 3
    assert p.malformed == 0


def test_json_and_plain_captures_give_the_same_flat_shape() -> None:
    plain = list(iter_capture_events(TRACES / "01-inbound-answered" / "esl.log"))
    js = list(iter_capture_events(TRACES / "01-inbound-answered-json" / "esl.log"))
    p_create = next(e for e in plain if e["Event-Name"] == "CHANNEL_CREATE")
    j_create = next(e for e in js if e["Event-Name"] == "CHANNEL_CREATE")
    assert p_create["Channel-Name"] == "sofia/external/5551001@127.0.0.1:5101"
    assert j_create["Channel-Name"] == "sofia/external/5551001@127.0.0.1:5101"
    assert set(p_create) - set(j_create) <= {"Content-Length"}
    assert [e["Event-Name"] for e in plain][:5] == [e["Event-Name"] for e in js][:5]


@pytest.mark.parametrize(
    "folder", ["17-cyrillic-caller-name", "03-queue-answered-json", "08a-dialer-answered"]
)
def test_r_safe_1_every_byte_split_gives_identical_frames(folder: str) -> None:
    data = (TRACES / folder / "esl.log").read_bytes()[:60_000]
    # cut the prefix at a frame boundary so the reference has no truncated frame
    ref, _ = _parse_all(data)
    ref_sig = _frames_sig(ref)
    for cut in range(1, len(data), 1):
        if cut % 97 and not (cut < 2000):  # every byte in the first 2 kB, then a stride
            continue
        out, _ = _parse_all(data, [cut])
        assert _frames_sig(out) == ref_sig, cut
    rng = random.Random(7)
    for _ in range(20):
        chunks = [rng.randint(1, 300) for _ in range(len(data) // 150)]
        out, _ = _parse_all(data, chunks)
        assert _frames_sig(out) == ref_sig


def test_one_byte_at_a_time_utf8_json() -> None:
    data = (TRACES / "01-inbound-answered-json" / "esl.log").read_bytes()[:30_000]
    ref, _ = _parse_all(data)
    out, _ = _parse_all(data, [1] * len(data))
    assert _frames_sig(out) == _frames_sig(ref)


def _frame(event_name: str, seq: int, fmt: str = "plain") -> bytes:
    if fmt == "json":
        body = json.dumps({"Event-Name": event_name, "Event-Sequence": str(seq), "Event-Date-Timestamp": "1"})
        b = body.encode()
        return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(b) + b
    b = f"Event-Name: {event_name}\nEvent-Sequence: {seq}\nEvent-Date-Timestamp: 1\n\n".encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(b) + b


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_r_safe_1_content_length_too_long_gives_back_the_swallowed_frames(fmt: str) -> None:
    good = _frame("CHANNEL_CREATE", 1, fmt)
    lying = good.replace(b"Content-Length: ", b"Content-Length: 1", 1)  # e.g. 123 -> 1123
    stream = lying + _frame("CHANNEL_ANSWER", 2, fmt) * 20 + _frame("CHANNEL_HANGUP", 3, fmt) * 20
    out, p = _parse_all(stream)
    names = [f.event["Event-Name"] for f in out if f.event]
    assert names[0] == "CHANNEL_CREATE"
    assert names.count("CHANNEL_HANGUP") == 20
    assert names.count("CHANNEL_ANSWER") == 20
    assert p.malformed >= 1


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_r_safe_1_content_length_too_short_resyncs(fmt: str) -> None:
    good = _frame("CHANNEL_CREATE", 1, fmt)
    _hdr, _, body = good.partition(b"\n\n")
    lying = b"Content-Length: %d\nContent-Type: text/event-%s\n\n" % (len(body) - 10, fmt.encode()) + body
    stream = lying + _frame("CHANNEL_ANSWER", 2, fmt) + _frame("CHANNEL_HANGUP", 3, fmt)
    out, p = _parse_all(stream)
    names = [f.event["Event-Name"] for f in out if f.event]
    assert names[-2:] == ["CHANNEL_ANSWER", "CHANNEL_HANGUP"]
    assert p.malformed >= 1


def test_r_safe_1_huge_or_garbage_length_does_not_wedge() -> None:
    stream = (
        b"Content-Length: 99999999999\nContent-Type: text/event-plain\n\n"
        + b"Content-Length: -5\nContent-Type: text/event-plain\n\n"
        + b"Content-Length: abc\nContent-Type: text/event-plain\n\n"
        + b"\x00\xff garbage line without colon\n\n"
        + _frame("HEARTBEAT", 9)
    )
    p = EslParser(max_frame=1 << 20)
    out = p.feed(stream)
    assert [f.event["Event-Name"] for f in out if f.event] == ["HEARTBEAT"]
    assert p.malformed >= 3
    assert p.buffered == 0


def test_r_safe_1_thousands_of_unusable_frames_in_one_read() -> None:
    """Each rejected frame used to cost a stack frame: ~1000 in one read raised RecursionError."""
    junk = (
        b"Content-Type: text/event-plain\nContent-Length: 99999999999\n\n" * 3000
        + b"Content-Type: log/data\nno colon on this line\n\n" * 3000
    )
    p = EslParser(max_frame=1 << 20)
    out = p.feed(junk + _frame("HEARTBEAT", 9))
    assert [f.event["Event-Name"] for f in out if f.event] == ["HEARTBEAT"]
    assert p.malformed >= 6000


def test_r_safe_1_endless_header_garbage_is_bounded() -> None:
    p = EslParser(max_header=1024)
    for _ in range(100):
        p.feed(b"x" * 1000)
    assert p.buffered < 2048
    out = p.feed(b"\n" + _frame("HEARTBEAT", 1))
    assert [f.event["Event-Name"] for f in out if f.event] == ["HEARTBEAT"]


def test_truncated_capture_salvages_last_frame_at_eof() -> None:
    data = _frame("CHANNEL_CREATE", 1) + _frame("CHANNEL_ANSWER", 2)[:-5]
    out, p = _parse_all(data)
    assert out[0].event["Event-Name"] == "CHANNEL_CREATE"
    assert out[-1].malformed and p.malformed == 1


def test_command_api_and_disconnect_frames() -> None:
    body = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    stream = (
        b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: abc\nJob-UUID: abc\n\n"
        + b"Content-Type: api/response\nContent-Length: 6\n\n+OK 1\n"
        + b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(body)
        + body
    )
    out, p = _parse_all(stream)
    assert [f.content_type for f in out] == ["command/reply", "api/response", "text/disconnect-notice"]
    assert out[0].headers["Job-UUID"] == "abc" and out[0].reply_text == "+OK Job-UUID: abc"
    assert out[1].body_text == "+OK 1\n"
    assert p.malformed == 0


_SAMPLE = (TRACES / "05-blind-transfer-json" / "esl.log").read_bytes()[:20_000] + (
    TRACES / "05-blind-transfer" / "esl.log"
).read_bytes()[:20_000]


@settings(max_examples=150, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(_SAMPLE)), max_size=12),
    junk=st.lists(st.binary(max_size=40), max_size=12),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_r_safe_1_fuzz_mutated_stream_never_raises(cuts: list[int], junk: list[bytes], seed: int) -> None:
    data = bytearray(_SAMPLE)
    for pos, j in zip(sorted(cuts, reverse=True), junk, strict=False):
        data[pos:pos] = j
    rng = random.Random(seed)
    for _ in range(rng.randint(0, 6)):  # flip digits of some Content-Length values
        i = data.find(b"Content-Length: ", rng.randrange(len(data)))
        if i >= 0:
            data[i + 16] = ord(str(rng.randint(0, 9)))
    p = EslParser(max_frame=1 << 20)
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 5000)
        for f in p.feed(bytes(data[pos : pos + step])):
            assert isinstance(f.headers, dict)
            if f.event is not None:
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in f.event.items())
        pos += step
    p.feed_eof()
    assert p.buffered == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_r_safe_1_random_bytes_never_raise(data: bytes) -> None:
    p = EslParser(max_frame=4096, max_header=1024)
    p.feed(data)
    p.feed_eof()


def test_iter_esl_capture_small_chunks_equals_whole() -> None:
    path = TRACES / "13-esl-reconnect" / "esl.reconnect.log"
    whole = _frames_sig(list(iter_esl_capture(path)))
    small = _frames_sig(list(iter_esl_capture(path, chunk=333)))
    assert whole == small
    api = [f for f in iter_esl_capture(path) if f.content_type == "api/response"]
    assert json.loads(api[0].body_text)["row_count"] == 2
