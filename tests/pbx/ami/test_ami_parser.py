"""Sans-I/O AMI parser against real Asterisk bytes (R-PBX-1, R-PBX-4, R-SAFE-1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.parser import AmiMessage, AmiParser, iter_messages
from ccagent.pbx.capture import CaptureFormatError, detect_format

TRACES = Path(__file__).resolve().parents[2] / "traces"
AST = TRACES / "asterisk"
CYR = AST / "23-cyrillic-caller-name" / "ami.log"


def headers(msgs: list[AmiMessage]) -> list[list[tuple[str, str]]]:
    return [[(k, v) for k, v in m.raw_headers] for m in msgs]


def test_r_pbx_4_whole_trace_parses_cleanly() -> None:
    data = CYR.read_bytes()
    p = AmiParser()
    msgs = p.feed(data)
    assert p.version == "11.0.0"
    assert p.malformed == 0 and p.bad_lines == 0 and p.decode_errors == 0
    assert msgs[0].response == "Success" and msgs[0].action_id == "lab-24469-1"
    assert msgs[1].event == "FullyBooted"
    names = [m["CallerIDName"] for m in msgs if m.event == "Newchannel"]
    assert "Іван Петренко" in names and "Мария Иванова" in names
    # the number of messages equals the number of blank-line separators
    assert len(msgs) == data.count(b"\r\n\r\n")
    assert p.buffered == 0


def test_r_pbx_1_cyrillic_intact_at_every_split_offset() -> None:
    """Two reads split anywhere (inside a UTF-8 character, inside CRLFCRLF) give the same messages."""
    full = CYR.read_bytes()
    # every split point of the head (banner + the first Cyrillic-carrying messages) ...
    first = full.index("Іван".encode())
    head = full[: full.index(b"\r\n\r\n", first + 3000) + 4]
    # ... and a stride over the whole capture, including every other Cyrillic name
    for data, offsets in ((head, range(len(head) + 1)), (full, range(0, len(full), 61))):
        ref = headers(AmiParser().feed(data))
        for i in offsets:
            p = AmiParser()
            out = p.feed(data[:i]) + p.feed(data[i:])
            assert headers(out) == ref, f"split at byte {i}"
            assert p.decode_errors == 0
    names = {m["CallerIDName"] for m in AmiParser().feed(head) if "CallerIDName" in m}
    assert "Іван Петренко" in names


def test_byte_by_byte_feed_equals_one_feed() -> None:
    data = (AST / "06-attended-transfer" / "ami.log").read_bytes()
    ref = headers(AmiParser().feed(data))
    p = AmiParser()
    out: list[AmiMessage] = []
    for i in range(len(data)):
        out += p.feed(data[i : i + 1])
    assert headers(out) == ref
    assert p.version == "11.0.0"


def test_lf_only_input_is_tolerated() -> None:
    data = CYR.read_bytes()
    ref = headers(AmiParser().feed(data))
    assert headers(AmiParser().feed(data.replace(b"\r\n", b"\n"))) == ref


def test_empty_values_and_key_without_space() -> None:
    p = AmiParser()
    (m,) = p.feed(b"Event: UserEvent\r\nAccountCode: \r\nDigit:\r\nResult:confirmed\r\n\r\n")
    assert m["AccountCode"] == "" and m["Digit"] == "" and m["Result"] == "confirmed"
    assert [k for k, _ in m.raw_headers] == ["Event", "AccountCode", "Digit", "Result"]


def test_repeated_keys_keep_all_values_in_order() -> None:
    (m,) = AmiParser().feed(
        b"Action: Originate\r\nVariable: A=1\r\nChannel: PJSIP/1\r\nVariable: B=2\r\nVariable: C=\r\n\r\n"
    )
    assert m["Variable"] == "A=1"
    assert m.get_all("Variable") == ["A=1", "B=2", "C="]
    assert m.get_all("Channel") == ["PJSIP/1"]
    assert m.get_all("Nope") == []
    assert m.action == "Originate"


def test_value_containing_colon_space() -> None:
    (m,) = AmiParser().feed(b"Event: UserEvent\r\nNote: a: b: c\r\n\r\n")
    assert m["Note"] == "a: b: c"


def test_response_follows_free_text_kept_not_counted() -> None:
    p = AmiParser()
    (m,) = p.feed(
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        b"Name/username   Host\r\n101/101   127.0.0.1\r\n--END COMMAND--\r\n\r\n"
    )
    assert m.response == "Follows" and m.action_id == "7"
    assert "101/101   127.0.0.1" in m.content
    assert p.bad_lines == 0 and p.malformed == 0


def test_r_safe_1_invalid_utf8_replaced_per_message() -> None:
    p = AmiParser()
    msgs = p.feed(b"Event: A\r\nCallerIDName: \xff\xfeX\r\n\r\nEvent: B\r\nCallerIDName: \xd0\x86\r\n\r\n")
    assert [m.event for m in msgs] == ["A", "B"]
    assert msgs[0]["CallerIDName"] == "\ufffd\ufffdX"
    assert msgs[1]["CallerIDName"] == "І"
    assert p.decode_errors == 1


def test_r_safe_1_garbage_block_dropped_and_counted() -> None:
    seen: list[str] = []
    p = AmiParser(on_malformed=lambda reason, excerpt: seen.append(reason))
    msgs = p.feed(b"hello world\r\nfoo\r\n\r\nEvent: Ok\r\n\r\nSome: header\r\n\r\n")
    assert [m.event for m in msgs] == ["Ok"]
    assert p.malformed == 2
    assert len(seen) == 2 and all("Event/Response/Action" in r for r in seen)


def test_r_safe_1_oversize_message_dropped_not_buffered() -> None:
    p = AmiParser(max_message_bytes=1000)
    out: list[AmiMessage] = []
    out += p.feed(b"Event: Big\r\nData: ")
    for _ in range(50):
        out += p.feed(b"x" * 100)
        assert p.buffered <= 1100
    out += p.feed(b"\r\n\r\nEvent: After\r\n\r\n")
    assert [m.event for m in out] == ["After"]
    assert p.oversize == 1 and p.malformed == 1


def test_oversize_end_split_across_reads() -> None:
    p = AmiParser(max_message_bytes=100)
    out = p.feed(b"Event: Big\r\nData: " + b"y" * 200 + b"\r\n\r")
    out += p.feed(b"\nEvent: Next\r\n\r\n")
    assert [m.event for m in out] == ["Next"]


def test_concatenated_captures_with_second_banner() -> None:
    """ami.log + ami.2.log fed as one stream (ingest of 16-ami-reconnect)."""
    d = AST / "16-ami-reconnect"
    one, two = (d / "ami.log").read_bytes(), (d / "ami.2.log").read_bytes()
    p = AmiParser()
    msgs = p.feed(one + two)
    n1, n2 = len(AmiParser().feed(one)), len(AmiParser().feed(two))
    assert len(msgs) == n1 + n2
    assert p.malformed == 0
    assert sum(1 for m in msgs if m.event == "CoreShowChannel") == 2


def test_banner_split_across_reads() -> None:
    p = AmiParser()
    assert p.feed(b"Asterisk Call") == []
    assert p.feed(b" Manager/9.0.0\r") == []
    assert p.version is None
    assert p.feed(b"\n") == []
    assert p.version == "9.0.0"
    (m,) = p.feed(b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n")
    assert m.response == "Success"


def test_iter_messages_flushes_unterminated_tail() -> None:
    msgs = list(iter_messages(iter([b"Event: A\r\n\r\nEvent: B\r\nX: 1"])))
    assert [m.event for m in msgs] == ["A", "B"] and msgs[1]["X"] == "1"


def test_to_bytes_roundtrip() -> None:
    data = CYR.read_bytes()
    msgs = AmiParser().feed(data)
    again = AmiParser().feed(b"".join(m.to_bytes() for m in msgs))
    assert headers(again) == headers(msgs)


def test_r_pbx_6_capture_reader_streams_and_sniffs(tmp_path: Path) -> None:
    # a capture bigger than one read block
    data = CYR.read_bytes()
    big = tmp_path / "big.log"
    big.write_bytes(data + data.split(b"\r\n", 1)[1] * 3)
    msgs = list(iter_ami_capture(big))
    assert len(msgs) == 4 * len(AmiParser().feed(data))
    assert detect_format(CYR) == "ami"
    fs = TRACES / "freeswitch"
    plain = next(fs.glob("01-inbound-answered/esl.log"))
    js = next(fs.glob("01-inbound-answered-json/esl.log"))
    assert detect_format(plain) == "esl-plain"
    assert detect_format(js) == "esl-json"
    cut = tmp_path / "cut.log"
    cut.write_bytes(b"Event: Newchannel\r\nChannel: X\r\n\r\n")
    assert detect_format(cut) == "ami"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(CaptureFormatError, match="line 1"):
        detect_format(junk)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with pytest.raises(CaptureFormatError, match="empty"):
        detect_format(empty)


def test_the_capture_sniff_knows_the_parsers_banner() -> None:
    """``pbx/capture.py`` keeps its own copy of the AMI banner so it imports no PBX package."""
    from ccagent.pbx import capture
    from ccagent.pbx.ami.parser import BANNER_PREFIX

    assert capture._AMI_BANNER == BANNER_PREFIX
