"""Contacts import from CSV and XLSX into the contact base and a project (R-PRJ-7).

All or nothing at the file level, row by row inside it: a file that cannot be
read (binary, empty, undecodable, no phone column) imports nothing, because
the whole file is written in ONE transaction that a file-level error rolls
back; a bad row (no number, invalid number, bad time zone) is skipped and
reported with its line number and reason while the good rows import.

Memory stays flat in the file size: rows are streamed (``csv`` over a
decoding text stream; openpyxl in read-only mode) and written in chunks;
duplicates are found per chunk in memory and across chunks by the database
(a contact created or touched by this import carries this import's
timestamp in ``updated_at``).  Newer non-empty values win when rows merge
(name, time zone, extra fields), within the file and against the base.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from ccagent.core.phones import E164Normalizer, Outcome
from ccagent.storage.models import ContactRow, ProjectContactRow
from ccagent.storage.projects_repo import CHUNK, insert_ignore, new_membership

_contacts = ContactRow.__table__
_pc = ProjectContactRow.__table__

MAX_REPORTED_ERRORS = 1000
SNIFF_BYTES = 64 * 1024
CONTENT_SAMPLE_ROWS = 50

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
        if outcome is Outcome.OK:
            return e164, None
        if outcome is Outcome.NOT_A_NUMBER:
            return None, f"not a phone number: {text[:40]!r}"
        return None, f"invalid phone number {text[:40]!r} (region {self.region})"

    def is_phone(self, raw: Any) -> bool:
        return raw is not None and self(str(raw))[0] is not None


# --- readers: (line number, cells) streams ---


@dataclass
class _Source:
    rows: Iterator[tuple[int, list[Any]]]
    fraction: Callable[[], float | None]
    close: Callable[[], None]


def _detect_encoding(head: bytes, path: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(f"{path}: UTF-16 text is not supported; save the file as UTF-8 or CSV (cp1251)")
    if b"\x00" in head:
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


def _sniff_delimiter(sample: str) -> str:
    complete = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(complete, delimiters=";,\t").delimiter
    except csv.Error:
        first = complete.splitlines()[0] if complete.splitlines() else ""
        counts = {d: first.count(d) for d in (";", ",", "\t")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


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
    physical = {"line": 0}

    def lines() -> Iterator[str]:
        # Decoding line by line (not a TextIOWrapper, which decodes blocks ahead of the reader)
        # so an undecodable byte is reported on its own line.
        for raw_line in raw:
            physical["line"] += 1
            if physical["line"] == 1 and raw_line.startswith(codecs.BOM_UTF8):
                raw_line = raw_line[3:]
            try:
                yield raw_line.decode(codec)
            except UnicodeDecodeError:
                raise ImportFileError(
                    f"{path}: line {physical['line']}: not valid {codec} text (mixed encodings?)"
                ) from None

    reader = csv.reader(lines(), delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for cells in reader:
                yield reader.line_num, cells
        except csv.Error as exc:
            raise ImportFileError(f"{path}: line {reader.line_num}: {exc}") from None

    return _Source(rows(), lambda: min(1.0, raw.tell() / size), raw.close)


def _open_xlsx(path: str, report: ImportReport) -> _Source:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    handle = open(path, "rb")  # noqa: SIM115 - a file object: openpyxl then ignores the name's extension
    try:
        wb = load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        handle.close()
        raise ImportFileError(f"{path}: not a readable XLSX workbook ({exc.__class__.__name__})") from None
    ws = wb.worksheets[0] if wb.worksheets else None
    if ws is None:
        wb.close()
        handle.close()
        raise ImportFileError(f"{path}: the workbook has no sheet")
    total = ws.max_row if isinstance(ws.max_row, int) and ws.max_row > 0 else None
    state = {"line": 0}

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for i, values in enumerate(ws.iter_rows(values_only=True), start=1):
            state["line"] = i
            yield i, list(values)

    def fraction() -> float | None:
        return min(1.0, state["line"] / total) if total else None

    def close() -> None:
        wb.close()
        handle.close()

    report.format = "xlsx"
    return _Source(rows(), fraction, close)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores long digit strings as numbers: 380501234567.0
    return str(value).strip()


# --- the import ---


@dataclass
class _Row:
    line: int
    phone: str
    name: str | None
    tz: str | None
    fields: dict[str, str]


def _merge(old: _Row, new: _Row) -> _Row:
    return _Row(new.line, old.phone, new.name or old.name, new.tz or old.tz, {**old.fields, **new.fields})


def import_contacts(
    engine: Engine,
    path: str | Path,
    *,
    project_id: str | None = None,
    default_region: str = "UA",
    progress: Progress | None = None,
    now: datetime | None = None,
    chunk_rows: int = 5000,
) -> ImportReport:
    """Import one file; raises ``ImportFileError`` (nothing written) when the file cannot be imported.

    With ``project_id`` the file's contacts are also put into that project as
    ``not_called`` (contacts already in it keep their state).  The caller
    checks that the project accepts uploads (``Action.UPLOAD``).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
        # Find the columns from the header, else from the content of the first rows.
        sample: list[tuple[int, list[Any]]] = []
        for item in source.rows:
            if any(_cell_text(c) for c in item[1]):
                sample.append(item)
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
            scores = [
                sum(1 for _, r in sample if k < len(r) and normalize.is_phone(r[k])) for k in range(width)
            ]
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
        names: list[str] = []
        for k, h in enumerate(first if has_header else []):
            names.append(h or f"col{k + 1}")
        name_col = roles.index("name") if "name" in roles else None
        tz_col = roles.index("tz") if "tz" in roles else None
        report.phone_column = (
            (first[phone_col] or f"col{phone_col + 1}") if has_header else f"col{phone_col + 1}"
        )
        skip = {phone_col, name_col, tz_col}
        zones_ok: dict[str, bool] = {}

        def parse_row(line: int, cells: list[Any]) -> _Row | None:
            texts = [_cell_text(c) for c in cells]
            if not any(texts):
                return None
            report.rows += 1
            raw = texts[phone_col] if phone_col < len(texts) else ""
            e164, why = normalize(raw)
            if e164 is None:
                _bad(report, line, why or "bad number")
                return None
            tz = texts[tz_col] if tz_col is not None and tz_col < len(texts) and texts[tz_col] else None
            if tz is not None:
                ok = zones_ok.get(tz)
                if ok is None:
                    try:
                        ZoneInfo(tz)
                        ok = True
                    except (ZoneInfoNotFoundError, ValueError):
                        ok = False
                    zones_ok[tz] = ok
                if not ok:
                    _bad(report, line, f"unknown time zone {tz[:40]!r}")
                    return None
            name = texts[name_col][:256] if name_col is not None and name_col < len(texts) else None
            fields = {
                (names[k] if k < len(names) else f"col{k + 1}"): v
                for k, v in enumerate(texts)
                if v and k not in skip
            }
            return _Row(line, e164, name or None, tz, fields)

        def all_rows() -> Iterator[_Row]:
            items = iter(sample[1:] if has_header else sample)
            for line, cells in items:
                row = parse_row(line, cells)
                if row is not None:
                    yield row
            for line, cells in source.rows:
                row = parse_row(line, cells)
                if row is not None:
                    yield row

        with engine.begin() as conn:
            before = _in_project(conn, project_id) if project_id else 0
            chunk: dict[str, _Row] = {}
            for row in all_rows():
                prev = chunk.get(row.phone)
                if prev is not None:
                    report.duplicates += 1
                    chunk[row.phone] = _merge(prev, row)
                else:
                    chunk[row.phone] = row
                if len(chunk) >= chunk_rows:
                    _write_chunk(conn, chunk, report, project_id, now)
                    chunk = {}
                    if progress:
                        progress(report.rows, source.fraction())
            _write_chunk(conn, chunk, report, project_id, now)
            if project_id:
                report.added_to_project = _in_project(conn, project_id) - before
                unique = report.created + report.merged
                report.already_in_project = unique - report.added_to_project
            if progress:
                progress(report.rows, 1.0)
    finally:
        source.close()
    return report


def _bad(report: ImportReport, line: int, reason: str) -> None:
    report.bad_rows += 1
    if len(report.errors) < MAX_REPORTED_ERRORS:
        report.errors.append(RowError(line, reason))


def _in_project(conn: Connection, project_id: str | None) -> int:
    q = select(func.count()).select_from(_pc).where(_pc.c.project_id == project_id)
    return int(conn.execute(q).scalar_one())


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _write_chunk(
    conn: Connection, chunk: dict[str, _Row], report: ImportReport, project_id: str | None, now: datetime
) -> None:
    if not chunk:
        return
    phones = list(chunk)
    existing: dict[str, Any] = {}
    for part in _chunks(phones):
        q = select(
            _contacts.c.id, _contacts.c.phone_e164, _contacts.c.name, _contacts.c.time_zone,
            _contacts.c.fields, _contacts.c.updated_at,
        ).where(_contacts.c.phone_e164.in_(part))  # fmt: skip
        for r in conn.execute(q):
            existing[r.phone_e164] = r
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    ids: dict[str, int] = {}
    for phone, row in chunk.items():
        old = existing.get(phone)
        if old is None:
            inserts.append(
                {
                    "phone_e164": phone, "name": row.name, "time_zone": row.tz, "fields": row.fields,
                    "created_at": now, "updated_at": now,
                }
            )  # fmt: skip
            report.created += 1
            continue
        ids[phone] = old.id
        if old.updated_at == now:
            report.duplicates += 1  # created or touched earlier in this same file
        else:
            report.merged += 1
        fields = {**dict(old.fields or {}), **row.fields}
        name = row.name or old.name
        tz = row.tz or old.time_zone
        if (name, tz, fields) != (old.name, old.time_zone, dict(old.fields or {})) or old.updated_at != now:
            updates.append(
                {"b_id": old.id, "name": name, "time_zone": tz, "fields": fields, "updated_at": now}
            )
    if updates:
        conn.execute(
            update(_contacts)
            .where(_contacts.c.id == bindparam("b_id"))
            .values(
                name=bindparam("name"),
                time_zone=bindparam("time_zone"),
                fields=bindparam("fields"),
                updated_at=bindparam("updated_at"),
            ),
            updates,
        )
    if inserts:
        # executemany of one cached statement (a multi-row VALUES would be recompiled per batch).
        conn.execute(insert(_contacts), inserts)
    if project_id:
        new_phones = [r["phone_e164"] for r in inserts]
        for part in _chunks(new_phones):
            q = select(_contacts.c.id, _contacts.c.phone_e164).where(_contacts.c.phone_e164.in_(part))
            ids.update((r.phone_e164, r.id) for r in conn.execute(q))
        members = [new_membership(project_id, cid, now) for cid in ids.values()]
        for part in _chunks(members):
            insert_ignore(conn, _pc, part, ("project_id", "contact_id"))
