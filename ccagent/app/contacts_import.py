"""Contacts import from CSV and XLSX into the contact base and a project (R-PRJ-7).

All or nothing at the file level, row by row inside it: a file that cannot be
read (binary, empty, undecodable, no phone column) imports nothing, because
the whole file is written in ONE transaction that a file-level error rolls
back; a bad row (no number, invalid number, bad time zone) is skipped and
reported with its line number and reason while the good rows import.

Memory stays flat in the file size: rows are streamed (CSV decoded in 1 MB
blocks cut at newlines; XLSX through openpyxl's read-only cell parser with
each parsed row dropped) and written in chunks of distinct numbers;
duplicates are found per chunk in memory and across chunks by the database
(a contact created or touched by this import carries this import's
timestamp in ``updated_at``).  Newer non-empty values win when rows merge
(name, time zone, extra fields), within the file and against the base.

This module reads, validates and normalizes; every statement the import causes
is ``ccagent.storage.contacts_repo``'s (``ContactsRepo.importing`` holds the
file's transaction and merges each chunk set-wise).

Throughput (R-PRJ-7 goal: >= 50k rows/s CSV): numbers go through
``ccagent.core.phones`` (phonenumbers' exact answer, ~8x faster for plain
digits), and a row costs one tuple in a dict until its chunk is merged.
docs/performance.md has the figures.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import operator
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccagent.core.phones import E164Normalizer, NumberVerdict
from ccagent.storage.contacts_repo import ContactsRepo, ImportedContact

MAX_REPORTED_ERRORS = 1000
SNIFF_BYTES = 64 * 1024
CONTENT_SAMPLE_ROWS = 50
#: Rows between two progress reports (independent of the chunk size, so a bar moves on small files too).
PROGRESS_ROWS = 4096

#: (rows done, fraction of the file done or None when unknown)
Progress = Callable[[int, float | None], None]


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    file: str
    format: str  # csv | xlsx
    encoding: str | None = None
    delimiter: str | None = None
    phone_column: str | None = None
    rows: int = 0  # data rows read (blank lines not counted)
    created: int = 0  # new contacts in the base
    merged: int = 0  # rows merged into contacts already in the base
    duplicates: int = 0  # rows repeating a number seen earlier in this file
    added_to_project: int = 0
    already_in_project: int = 0
    bad_rows: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS


def _norm_header(text: str) -> str:
    return re.sub(
        r"\s+", " ", text.replace("\ufeff", "").strip().strip("*:").strip().lower().replace("_", " ")
    )


PHONE_HEADERS = frozenset(
    {
        "phone", "phone number", "phones", "telephone", "tel", "tel.", "mobile", "mobile phone", "cell",
        "msisdn", "number", "contact phone", "телефон", "номер", "номер телефона", "тел", "тел.",
        "мобильный", "мобильный телефон", "моб", "моб.", "телефон клиента", "контактный телефон",
        "номер телефону", "мобільний", "мобільний телефон", "телефон клієнта", "контактний телефон",
    }
)  # fmt: skip
NAME_HEADERS = frozenset(
    {
        "name", "full name", "fio", "client", "customer", "contact", "contact name", "имя", "фио", "ф.и.о.",
        "клиент", "контакт", "имя клиента", "ім'я", "імʼя", "ім’я", "піб", "клієнт", "ім'я клієнта",
    }
)  # fmt: skip
TZ_HEADERS = frozenset({"time zone", "timezone", "tz", "часовой пояс", "часовий пояс"})


def _role_of(header: str) -> str | None:
    h = _norm_header(header)
    if h in PHONE_HEADERS or "phone" in h or "телеф" in h:
        return "phone"
    if h in NAME_HEADERS:
        return "name"
    if h in TZ_HEADERS:
        return "tz"
    return None


class PhoneNormalizer:
    """Raw cell -> E.164, or a reason; the default region applies to numbers written nationally.

    ``ccagent.core.phones.E164Normalizer`` gives phonenumbers' exact answer (parse with the
    default region + is_valid_number + E.164), fast for plain digits.
    """

    def __init__(self, region: str) -> None:
        try:
            self._e164 = E164Normalizer(region.upper())
        except ValueError as exc:
            raise ImportFileError(str(exc)) from None
        self.region = region.upper()
        self.fast = self._e164.fast

    def __call__(self, raw: str) -> tuple[str | None, str | None]:
        text = raw.strip()
        if not text:
            return None, "no phone number"
        e164, outcome = self._e164(text)
        if outcome is NumberVerdict.OK:
            return e164, None
        if outcome is NumberVerdict.NOT_A_NUMBER:
            return None, f"not a phone number: {text[:40]!r}"
        return None, f"invalid phone number {text[:40]!r} (region {self.region})"

    def is_phone(self, raw: Any) -> bool:
        return raw is not None and self(str(raw))[0] is not None


# --- readers: streams of cells, with the line number of the row last read ---

#: Bytes read (and decoded) at once: big enough that per-read costs vanish, small next to the chunks.
READ_BLOCK = 1 << 20
#: Line breaks ``str.splitlines`` knows besides ``\n`` and ``\r\n``: a block holding one is split on ``\n``
#: only, as iterating the binary file would (the csv module then sees the same lines).
_OTHER_BREAKS = re.compile("\r(?!\n)|[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass
class _Source:
    rows: Iterator[Sequence[Any]]
    line: Callable[[], int]  # line number of the row the iterator returned last
    fraction: Callable[[], float | None]
    close: Callable[[], None]
    texts: Callable[[Sequence[Any]], list[str]]  # cells -> stripped texts


def _detect_encoding(head: bytes, path: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(f"{path}: UTF-16 text is not supported; save the file as UTF-8 or CSV (cp1251)")
    if b"\x00" in head:
        if _looks_utf16(head):
            raise ImportFileError(
                f"{path}: UTF-16 text (without a byte order mark) is not supported; "
                "save the file as UTF-8 or CSV (cp1251)"
            )
        raise ImportFileError(f"{path}: binary file (NUL bytes), not CSV or XLSX")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = head.decode("cp1251")
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: neither UTF-8 nor cp1251 text") from None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > len(text) // 100:
        raise ImportFileError(f"{path}: binary file, not CSV or XLSX")
    return "cp1251"


def _looks_utf16(head: bytes) -> bool:
    """Text saved as UTF-16 with no BOM (some spreadsheet exports) has NULs at every other byte.

    A contacts file is mostly digits and separators, so one byte of each pair is then mostly
    zero; random binary data has few zeros.  Said apart so the admin is told to re-save the
    file, not that it is garbage.
    """
    head = head[: len(head) // 2 * 2]
    if len(head) < 8:
        return False
    for codec, zeros in (("utf-16-le", head[1::2]), ("utf-16-be", head[0::2])):
        if zeros.count(0) >= 0.5 * len(zeros):
            try:
                text = codecs.getincrementaldecoder(codec)().decode(head, final=False)
            except UnicodeDecodeError:
                continue
            if all(ch.isprintable() or ch in "\t\r\n" for ch in text):
                return True
    return False


def _sniff_delimiter(sample: str) -> str:
    complete = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(complete, delimiters=";,\t").delimiter
    except csv.Error:
        first = complete.splitlines()[0] if complete.splitlines() else ""
        counts = {d: first.count(d) for d in (";", ",", "\t")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _split_lines(text: str) -> list[str]:
    """``text`` (ending in ``\n``) cut after each ``\n`` only, like iterating a binary file."""
    if _OTHER_BREAKS.search(text) is None:
        return text.splitlines(keepends=True)
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _csv_texts(cells: Sequence[str]) -> list[str]:
    return [c.strip() for c in cells]


def _open_csv(path: str, head: bytes, report: ImportReport) -> _Source:
    encoding = _detect_encoding(head, path)
    sample = head.decode(encoding, errors="ignore")
    if not sample.strip():
        raise ImportFileError(f"{path}: empty file")
    delimiter = _sniff_delimiter(sample)
    report.encoding, report.delimiter = encoding, delimiter
    raw = open(path, "rb")  # noqa: SIM115 - closed by _Source.close
    size = os.fstat(raw.fileno()).st_size or 1
    codec = "utf-8" if encoding == "utf-8-sig" else encoding

    def blocks() -> Iterator[list[str]]:
        # Whole blocks cut at a newline are decoded at once (one C call per megabyte, not one per
        # line); an undecodable byte is still reported on its own physical line, counted from the bytes.
        lines_before = 0
        pending = b""
        first = True
        while True:
            data = raw.read(READ_BLOCK)
            if data:
                data = pending + data
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    pending = data
                    continue
                block, pending = data[:cut], data[cut:]
            elif pending:
                block, pending = pending, b""
            else:
                return
            if first:
                first = False
                if block.startswith(codecs.BOM_UTF8):
                    block = block[len(codecs.BOM_UTF8) :]
            try:
                text = block.decode(codec)
            except UnicodeDecodeError as exc:
                line = lines_before + block.count(b"\n", 0, exc.start) + 1
                raise ImportFileError(
                    f"{path}: line {line}: not valid {codec} text (mixed encodings?)"
                ) from None
            lines_before += block.count(b"\n")
            yield _split_lines(text)

    reader = csv.reader(itertools.chain.from_iterable(blocks()), delimiter=delimiter)
    return _Source(
        reader, lambda: reader.line_num, lambda: min(1.0, raw.tell() / size), raw.close, _csv_texts
    )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores long digit strings as numbers: 380501234567.0
    return str(value).strip()


def _xlsx_texts(cells: Sequence[Any]) -> list[str]:
    return [_cell_text(c) for c in cells]


def _xlsx_value_rows(wb: Any, ws: Any) -> Iterator[tuple[int, Sequence[Any]]]:
    """``enumerate(ws.iter_rows(values_only=True), start=1)`` without its blank rows, in flat memory.

    openpyxl's read-only parser clears each row element but leaves it in the parsed tree
    (and keeps row attributes), ~90 bytes a row: a 1M-row sheet would hold ~90 MB at the
    end.  This runs the same openpyxl cell parser (``WorkSheetParser.parse_row``: shared
    strings, dates, types as openpyxl gives them) and the same row rules (rows past the
    sheet's dimension ignored, a repeated row index skipped, cells past the last column
    dropped), but empties the sheet data after each row.  Falls back to ``iter_rows`` on
    an openpyxl without these internals.
    """
    try:
        from openpyxl.worksheet._reader import ROW_TAG, WorkSheetParser
        from openpyxl.xml.constants import SHEET_MAIN_NS
        from openpyxl.xml.functions import iterparse

        source = ws._get_source()
        parser = WorkSheetParser(
            source,
            ws._shared_strings,
            data_only=wb.data_only,
            epoch=wb.epoch,
            date_formats=wb._date_formats,
            timedelta_formats=wb._timedelta_formats,
        )
    except (ImportError, AttributeError, TypeError):
        yield from enumerate(ws.iter_rows(values_only=True), start=1)
        return
    data_tag = f"{{{SHEET_MAIN_NS}}}sheetData"
    max_col, max_row = ws.max_column, ws.max_row
    next_row = 1
    data = None
    try:
        for event, element in iterparse(source, events=("start", "end")):
            if event == "start":
                if element.tag == data_tag:
                    data = element
                continue
            if element.tag != ROW_TAG:
                continue
            idx, cells = parser.parse_row(element)
            parser.row_dimensions.clear()
            if data is not None:
                data.clear()  # drops this row (and nothing else is left): flat memory
            if max_row is not None and idx > max_row:
                break
            if idx < next_row:
                continue  # openpyxl yields a row index once
            next_row = idx + 1
            if not cells and not max_col:
                continue
            width = max_col or cells[-1]["column"]
            values: list[Any] = [None] * width
            for cell in cells:
                col = cell["column"]
                if 1 <= col <= width:
                    values[col - 1] = cell["value"]
            yield idx, values
    finally:
        source.close()


def _open_xlsx(path: str, report: ImportReport) -> _Source:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    handle = open(path, "rb")  # noqa: SIM115 - a file object: openpyxl then ignores the name's extension
    try:
        wb = load_workbook(handle, read_only=True, data_only=True)
    except (
        zipfile.BadZipFile,
        InvalidFileException,
        KeyError,
        ValueError,
        OSError,
        zlib.error,
        SyntaxError,
    ) as exc:
        handle.close()
        raise ImportFileError(f"{path}: not a readable XLSX workbook ({exc.__class__.__name__})") from None
    ws = wb.worksheets[0] if wb.worksheets else None
    if ws is None:
        wb.close()
        handle.close()
        raise ImportFileError(f"{path}: the workbook has no sheet")
    total = ws.max_row if isinstance(ws.max_row, int) and ws.max_row > 0 else None
    state = {"line": 0}

    def rows() -> Iterator[Sequence[Any]]:
        for i, values in _xlsx_value_rows(wb, ws):
            state["line"] = i
            yield values

    def fraction() -> float | None:
        return min(1.0, state["line"] / total) if total else None

    def close() -> None:
        wb.close()
        handle.close()

    report.format = "xlsx"
    return _Source(rows(), lambda: state["line"], fraction, close, _xlsx_texts)


# --- the import ---


def import_contacts(
    contacts: ContactsRepo,
    path: str | Path,
    *,
    project_id: str | None = None,
    default_region: str = "UA",
    progress: Progress | None = None,
    now: datetime | None = None,
    chunk_rows: int = 20_000,
) -> ImportReport:
    """Import one file; raises ``ImportFileError`` (nothing written) when the file cannot be imported.

    With ``project_id`` the file's contacts are also put into that project as
    ``not_called`` (contacts already in it keep their state).  The caller
    checks that the project accepts uploads (``Action.UPLOAD``).
    """
    p = str(path)
    now = now or datetime.now(UTC)
    normalize = PhoneNormalizer(default_region)
    report = ImportReport(file=p, format="csv")
    try:
        with open(p, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        raise ImportFileError(f"{p}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    if not head:
        raise ImportFileError(f"{p}: empty file")
    if head.startswith(b"PK\x03\x04") or p.lower().endswith((".xlsx", ".xlsm")):
        source = _open_xlsx(p, report)
    else:
        source = _open_csv(p, head, report)
    try:
        try:
            _import(contacts, source, report, normalize, p, project_id, progress, now, chunk_rows)
        except csv.Error as exc:
            raise ImportFileError(f"{p}: line {source.line()}: {exc}") from None
        except (SyntaxError, zlib.error, zipfile.BadZipFile, EOFError) as exc:
            # an XLSX whose zip opens but whose sheet is damaged further on (XML cut short, a
            # corrupt deflate stream): the transaction is rolled back, say where and why
            where = f"row {source.line()}: " if source.line() > 0 else ""
            raise ImportFileError(f"{p}: {where}damaged XLSX content ({exc.__class__.__name__})") from None
    finally:
        source.close()
    return report


def _import(
    contacts: ContactsRepo,
    source: _Source,
    report: ImportReport,
    normalize: PhoneNormalizer,
    p: str,
    project_id: str | None,
    progress: Progress | None,
    now: datetime,
    chunk_rows: int,
) -> None:
    from ccagent.core.dialing_rules import find_zone

    # Find the columns from the header, else from the content of the first rows.
    sample: list[tuple[int, Sequence[Any]]] = []
    for cells in source.rows:
        if any(_cell_text(c) for c in cells):
            sample.append((source.line(), cells))
        if len(sample) >= CONTENT_SAMPLE_ROWS:
            break
    if not sample:
        raise ImportFileError(f"{p}: empty file (no rows)")
    first = [_cell_text(c) for c in sample[0][1]]
    roles = [_role_of(h) for h in first]
    if "phone" in roles:
        has_header, phone_col = True, roles.index("phone")
    else:
        width = max(len(r) for _, r in sample)
        scores = [sum(1 for _, r in sample if k < len(r) and normalize.is_phone(r[k])) for k in range(width)]
        best = max(range(width), key=lambda k: scores[k]) if width else 0
        if not width or scores[best] * 2 < len(sample) - 1 or scores[best] == 0:
            shown = ", ".join(repr(h) for h in first[:8])
            raise ImportFileError(
                f"{p}: no phone column: no header is a phone header (phone, телефон, номер, ...) "
                f"and no column holds phone numbers; first row: {shown}"
            )
        phone_col = best
        has_header = not normalize.is_phone(sample[0][1][phone_col] if phone_col < len(first) else None)
        roles = [_role_of(h) if has_header else None for h in first]
        roles[phone_col] = "phone"
    names = [h or f"col{k + 1}" for k, h in enumerate(first)] if has_header else []
    name_col = roles.index("name") if "name" in roles else None
    tz_col = roles.index("tz") if "tz" in roles else None
    report.phone_column = (first[phone_col] or f"col{phone_col + 1}") if has_header else f"col{phone_col + 1}"
    skip = {phone_col, name_col, tz_col}
    zones_ok: dict[str, bool] = {}

    def field_layout(width: int) -> tuple[Callable[[list[str]], Any], tuple[str, ...]]:
        """For rows of ``width`` cells: a getter of the extra cells and their field names."""
        cols = [k for k in range(width) if k not in skip]
        keys = tuple(names[k] if k < len(names) else f"col{k + 1}" for k in cols)
        if len(cols) == 1:
            one = cols[0]
            return (lambda t: (t[one],)), keys
        if not cols:
            return (lambda t: ()), keys
        return operator.itemgetter(*cols), keys

    layouts: dict[int, tuple[Callable[[list[str]], Any], tuple[str, ...]]] = {}
    fast = normalize.fast
    next_progress = PROGRESS_ROWS
    with contacts.importing(project_id, now) as batch:

        def write(chunk: dict[str, ImportedContact]) -> None:
            counts = batch.merge(chunk)
            report.created += counts.created
            report.merged += counts.merged
            report.duplicates += counts.duplicates

        def rows() -> Iterator[tuple[int, Sequence[Any]]]:
            yield from (sample[1:] if has_header else sample)
            for cells in source.rows:
                yield -1, cells  # the line is read only for a bad row (source.line() is then current)

        def feed() -> None:
            nonlocal next_progress
            chunk: dict[str, ImportedContact] = {}
            for line, cells in rows():
                texts = source.texts(cells)
                n = len(texts)
                if not any(texts):
                    continue
                report.rows += 1
                if progress is not None and report.rows >= next_progress:
                    next_progress += PROGRESS_ROWS
                    progress(report.rows, source.fraction())
                if any("\x00" in t for t in texts):  # binary past the sniffed head: PostgreSQL refuses NUL
                    _bad(report, line if line >= 0 else source.line(), "binary content (NUL byte)")
                    continue
                raw = texts[phone_col] if phone_col < n else ""
                e164 = fast(raw) if raw else None
                if e164 is None:
                    e164, why = normalize(raw)
                    if e164 is None:
                        _bad(report, line if line >= 0 else source.line(), why or "bad number")
                        continue
                tz = texts[tz_col] if tz_col is not None and tz_col < n and texts[tz_col] else None
                if tz is not None:
                    ok = zones_ok.get(tz)
                    if ok is None:
                        ok = zones_ok[tz] = find_zone(tz) is not None
                    if not ok:
                        _bad(report, line if line >= 0 else source.line(), f"unknown time zone {tz[:40]!r}")
                        continue
                name = (texts[name_col][:256] or None) if name_col is not None and name_col < n else None
                layout = layouts.get(n)
                if layout is None:
                    layout = layouts[n] = field_layout(n)
                fields = {k: v for k, v in zip(layout[1], layout[0](texts), strict=True) if v}
                prev = chunk.get(e164)
                if prev is not None:
                    report.duplicates += 1
                    chunk[e164] = (name or prev[0], tz or prev[1], {**prev[2], **fields})
                    continue
                chunk[e164] = (name, tz, fields)
                if len(chunk) >= chunk_rows:
                    write(chunk)
                    chunk = {}
            write(chunk)

        feed()
        if project_id:
            report.added_to_project = batch.added_to_project()
            unique = report.created + report.merged
            report.already_in_project = unique - report.added_to_project
        if progress:
            progress(report.rows, 1.0)


def _bad(report: ImportReport, line: int, reason: str) -> None:
    report.bad_rows += 1
    if len(report.errors) < MAX_REPORTED_ERRORS:
        report.errors.append(RowError(line, reason))
