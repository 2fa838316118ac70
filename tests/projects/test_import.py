"""Contacts import: encodings, BOM, delimiters, bad rows by line, duplicates, refused files (R-PRJ-7)."""

from __future__ import annotations

import itertools
import json
import os
import random
import zipfile
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from ccagent.app import contacts_import
from ccagent.app.contacts_import import ImportFileError, import_contacts
from ccagent.app.projects import ProjectService
from ccagent.core.projects import ContactState
from ccagent.storage import contacts_repo
from ccagent.storage.contacts_repo import ContactsRepo
from ccagent.storage.models import ContactRow, ProjectContactRow
from ccagent.storage.projects_repo import ProjectRepo
from tests.projects.conftest import FakeClock

ROWS_RU = [
    ["Телефон", "ФИО", "Город"],
    ["050 123 45 67", "Иван Петров", "Київ"],
    ["+380 67 123 45 67", "Олена", "Львів"],
]


def _write(path: Path, rows: list[list[str]], *, encoding: str, delimiter: str, bom: bool = False) -> Path:
    text = "\r\n".join(delimiter.join(r) for r in rows) + "\r\n"
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def _contacts(engine: Engine) -> dict[str, tuple[str | None, dict[str, str]]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ContactRow.phone_e164, ContactRow.name, ContactRow.fields)).all()
    return {r.phone_e164: (r.name, dict(r.fields)) for r in rows}


@pytest.mark.parametrize(
    ("encoding", "bom", "delimiter"),
    [
        ("utf-8", False, ";"),
        ("utf-8", True, ","),
        ("cp1251", False, "\t"),
        ("cp1251", False, ";"),
        ("utf-8", False, "\t"),
    ],
)
def test_R_PRJ_7_encodings_bom_and_delimiters(
    migrated_engine: Engine, tmp_path: Path, encoding: str, bom: bool, delimiter: str
) -> None:
    rows = (
        ROWS_RU
        if encoding == "utf-8"
        else [[c.replace("і", "и").replace("Л", "Л") for c in r] for r in ROWS_RU]
    )
    path = _write(tmp_path / "c.csv", rows, encoding=encoding, delimiter=delimiter, bom=bom)
    report = import_contacts(ContactsRepo(migrated_engine), path, default_region="UA")
    assert (report.encoding, report.delimiter) == ("utf-8-sig" if bom else encoding, delimiter)
    assert (report.rows, report.created, report.bad_rows, report.phone_column) == (2, 2, 0, "Телефон")
    got = _contacts(migrated_engine)
    assert got["+380501234567"] == ("Иван Петров", {"Город": rows[1][2]})
    assert got["+380671234567"][0] == "Олена"


def test_R_PRJ_7_bad_rows_reported_with_line_and_reason_good_rows_kept(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    rows = [
        ["name", "phone", "tz"],
        ["ok", "0501234567", ""],
        ["letters", "call me", ""],
        ["short", "123", ""],
        ["empty", "", ""],
        ["zone", "0671234567", "Mars/Base"],
        ["ok2", "+12125551234", "America/New_York"],
        ["region", "0681234567", "Europe"],  # a directory of the zone database, not a zone
    ]
    path = _write(tmp_path / "bad.csv", rows, encoding="utf-8", delimiter=",")
    report = import_contacts(ContactsRepo(migrated_engine), path)
    assert [(e.line, e.reason.split(" ")[0]) for e in report.errors] == [
        (3, "not"), (4, "invalid"), (5, "no"), (6, "unknown"), (8, "unknown"),
    ]  # fmt: skip
    assert "'123'" in report.errors[1].reason and "Mars/Base" in report.errors[3].reason
    assert "'Europe'" in report.errors[4].reason
    assert str(report.errors[0]).startswith("line 3: ")
    assert (report.rows, report.created, report.bad_rows) == (7, 2, 5)
    with migrated_engine.connect() as conn:
        tz = conn.execute(
            select(ContactRow.time_zone).where(ContactRow.phone_e164 == "+12125551234")
        ).scalar()
    assert tz == "America/New_York"


def test_R_PRJ_7_duplicates_merged_in_file_and_against_the_base(
    migrated_engine: Engine, tmp_path: Path, service: ProjectService, repo: ProjectRepo
) -> None:
    service.create("p", "P", "autoinformer")
    first = _write(tmp_path / "a.csv", [["phone", "name", "city"], ["0501234567", "Ivan", "Kyiv"]],
                   encoding="utf-8", delimiter=";")  # fmt: skip
    import_contacts(ContactsRepo(migrated_engine), first, project_id="p")
    rows = [
        ["phone", "name", "vip"],
        ["+380501234567", "", "yes"],  # in the base: merged (name kept, field added)
        ["0931234567", "Olga", ""],
        ["093-123-45-67", "Olga K", "no"],  # same number in this file
    ]
    second = _write(tmp_path / "b.csv", rows, encoding="utf-8", delimiter=";")
    report = import_contacts(
        ContactsRepo(migrated_engine), second, project_id="p", chunk_rows=1
    )  # also across chunks
    assert (report.created, report.merged, report.duplicates) == (1, 1, 1)
    assert (report.added_to_project, report.already_in_project) == (1, 1)
    got = _contacts(migrated_engine)
    assert got["+380501234567"] == ("Ivan", {"city": "Kyiv", "vip": "yes"})
    assert got["+380931234567"] == ("Olga K", {"vip": "no"})
    assert {c.state for c in repo.project_contacts("p")} == {ContactState.NOT_CALLED}
    assert len(repo.project_contacts("p")) == 2


def test_R_PRJ_7_no_header_phone_column_found_by_content(migrated_engine: Engine, tmp_path: Path) -> None:
    rows = [["Ivan", "0501234567", "x"], ["Olga", "0671234567", "y"], ["Petro", "0931234567", "z"]]
    report = import_contacts(
        ContactsRepo(migrated_engine), _write(tmp_path / "n.csv", rows, encoding="utf-8", delimiter=",")
    )
    assert (report.rows, report.created, report.phone_column) == (3, 3, "col2")
    assert _contacts(migrated_engine)["+380501234567"] == (None, {"col1": "Ivan", "col3": "x"})


def _nothing_imported(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ContactRow)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(ProjectContactRow)).scalar_one() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\r\n\r\n  \r\n", "empty file"),
        (bytes(range(256)) * 40, "binary file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000), "binary file"),
        (b"name;city\nIvan;Kyiv\nOlga;Lviv\n", "no phone column"),
        (b"PK\x03\x04garbage-not-a-zip", "not a readable XLSX"),
        ("phone;name\r\n0501234567;Іван\r\n".encode("utf-16-le"), "UTF-16 text .without a byte order mark"),
        ("phone;name\r\n0501234567;Іван\r\n".encode("utf-16-be"), "UTF-16 text .without a byte order mark"),
    ],
    ids=["empty", "blank-lines", "all-bytes", "png", "no-phone-column", "broken-xlsx", "utf16le", "utf16be"],
)
def test_R_PRJ_7_unreadable_files_import_nothing(
    migrated_engine: Engine, tmp_path: Path, service: ProjectService, content: bytes, message: str
) -> None:
    service.create("p", "P", "autoinformer")
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_contacts(ContactsRepo(migrated_engine), path, project_id="p")
    _nothing_imported(migrated_engine)


def test_R_PRJ_7_error_late_in_the_file_rolls_back_everything(
    migrated_engine: Engine, tmp_path: Path, service: ProjectService
) -> None:
    service.create("p", "P", "autoinformer")
    good = "".join(f"+3805012{i:05d};n{i}\r\n" for i in range(20_000))
    path = tmp_path / "mixed.csv"
    # Valid UTF-8 for the first 64 KB (so UTF-8 is detected), then a cp1251 byte far into the file.
    path.write_bytes(b"phone;name\r\n" + good.encode() + "+380671234567;Ол\r\n".encode("cp1251"))
    with pytest.raises(ImportFileError, match=r"line 20002: not valid utf-8"):
        import_contacts(ContactsRepo(migrated_engine), path, project_id="p", chunk_rows=1000)
    _nothing_imported(migrated_engine)


@pytest.mark.parametrize("damage", ["sheet-xml-cut", "deflate-stream-flipped"])
def test_R_PRJ_7_an_xlsx_damaged_inside_imports_nothing_and_says_so(
    migrated_engine: Engine, tmp_path: Path, service: ProjectService, damage: str
) -> None:
    service.create("p", "P", "autoinformer")
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["phone", "name"])
    for i in range(3000):
        ws.append([f"+3805012{i:05d}", f"n{i}"])
    good = tmp_path / "good.xlsx"
    wb.save(good)
    path = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/") and damage == "sheet-xml-cut":
                data = data[: len(data) * 2 // 3]
            dst.writestr(item, data)
    if damage == "deflate-stream-flipped":  # one byte in the middle of the sheet's compressed data
        raw = bytearray(good.read_bytes())
        with zipfile.ZipFile(good) as z:
            info = next(x for x in z.infolist() if x.filename.startswith("xl/worksheets/"))
        raw[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    with pytest.raises(ImportFileError, match=r"damaged XLSX content|not a readable XLSX"):
        import_contacts(ContactsRepo(migrated_engine), path, project_id="p", chunk_rows=500)
    _nothing_imported(migrated_engine)


def test_R_PRJ_7_missing_file(migrated_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read"):
        import_contacts(ContactsRepo(migrated_engine), tmp_path / "nope.csv")


def test_R_PRJ_7_xlsx_streaming_with_numbers_as_cells(migrated_engine: Engine, tmp_path: Path) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["Номер телефону", "ПІБ", "Сума"])
    ws.append([380501234567, "Іван", 100.5])  # Excel keeps the number as a number
    ws.append(["067 123 45 67", "Олена", None])
    ws.append(["nonsense", "X", 1])
    path = tmp_path / "c.xlsx"
    wb.save(path)
    report = import_contacts(ContactsRepo(migrated_engine), path, default_region="UA")
    assert (report.format, report.rows, report.created, report.bad_rows) == ("xlsx", 3, 2, 1)
    assert report.errors[0].line == 4
    assert _contacts(migrated_engine)["+380501234567"] == ("Іван", {"Сума": "100.5"})


def test_R_PRJ_7_progress_and_a_large_file(migrated_engine: Engine, tmp_path: Path, clock: FakeClock) -> None:
    """The issue's 1M-row file on SQLite, 10k rows on PostgreSQL (rates: bench/import.py); progress to 1.0."""
    n = 1_000_000 if migrated_engine.dialect.name == "sqlite" else 10_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phone,name,segment\n")
        for i in range(n):
            f.write(f"+38050{i:07d},Name {i},s{i % 7}\n")
        f.write("+380500000001,Dup,x\n")
    seen: list[tuple[int, float | None]] = []
    report = import_contacts(
        ContactsRepo(migrated_engine),
        path,
        progress=lambda rows, frac: seen.append((rows, frac)),
        now=clock.now,
    )
    assert (report.rows, report.created, report.duplicates, report.bad_rows) == (n + 1, n, 1, 0)
    assert len(seen) >= 2 and seen[-1] == (n + 1, 1.0)
    assert all(a[0] <= b[0] and (a[1] or 0) <= (b[1] or 0) for a, b in itertools.pairwise(seen))


def _model_import(
    rows: list[list[str]], region: str, base: dict[str, tuple[str | None, dict[str, str]]]
) -> tuple[dict[str, tuple[str | None, dict[str, str]]], list[int], int]:
    """What an import must store, computed the plain way: phonenumbers row by row, dicts merged in order."""
    out = {k: (v[0], dict(v[1])) for k, v in base.items()}
    bad: list[int] = []
    duplicates = 0
    seen: set[str] = set()
    header = rows[0]
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue  # a blank line: not a row
        raw = row[0].strip()
        try:
            num = phonenumbers.parse(raw, region)
            ok = phonenumbers.is_valid_number(num)
        except phonenumbers.NumberParseException:
            ok = False
        if not ok:
            bad.append(line)
            continue
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        fields = {h: v.strip() for h, v in zip(header[2:], row[2:], strict=True) if v.strip()}
        name = row[1].strip() or None
        if e164 in seen:
            duplicates += 1
        seen.add(e164)
        old_name, old_fields = out.get(e164, (None, {}))
        out[e164] = (name or old_name, {**old_fields, **fields})
    return out, bad, duplicates


def _numbers_in(rows: list[list[str]]) -> set[str]:
    return set(_model_import(rows, "UA", {})[0])


@pytest.mark.parametrize("chunk_rows", [7, 20_000])
def test_R_PRJ_7_generated_file_imports_exactly_what_the_plain_model_says(
    migrated_engine: Engine, tmp_path: Path, service: ProjectService, repo: ProjectRepo, chunk_rows: int
) -> None:
    """Valid, invalid and repeated numbers in many spellings, twice (the second import merges): the
    base, the counts, the bad lines and the project equal a row-by-row model using phonenumbers."""
    rng = random.Random(7)
    service.create("p", "P", "autoinformer")
    spellings = [
        "0{n}", "+380{n}", "00380{n}", "380{n}", "({a}) {b}-{c}", "0 {a} {b} {c}", "+38 0{n}", "{n}",
        "8{n}", "+7{n}", "0{n}1", "abc", "", "+1 212 555 {c}", "0{n}#", "0-{a}-{b}.{c}",
    ]  # fmt: skip
    base: dict[str, tuple[str | None, dict[str, str]]] = {}
    for round_ in range(2):
        rows = [["phone", "name", "city", "note"]]
        for i in range(400):
            n = f"{rng.choice(['50', '67', '93', '44', '32'])}{rng.randrange(10**7):07d}"
            if rng.random() < 0.2:
                n = "501234567"  # repeats
            a, b, c = n[:3], n[3:6], n[6:]
            phone = rng.choice(spellings).format(n=n, a=a, b=b, c=c)
            rows.append([phone, rng.choice(["", f"N{round_}-{i}"]), rng.choice(["", "Kyiv", "Lviv"]),
                         rng.choice(["", f"r{round_}"])])  # fmt: skip
        expected, bad_lines, dups = _model_import(rows, "UA", base)
        path = _write(tmp_path / f"g{round_}.csv", rows, encoding="utf-8", delimiter=";")
        report = import_contacts(ContactsRepo(migrated_engine), path, project_id="p", chunk_rows=chunk_rows)
        assert [e.line for e in report.errors] == bad_lines
        assert report.bad_rows == len(bad_lines)
        assert report.rows == sum(1 for r in rows[1:] if any(r))
        in_file = _numbers_in(rows)
        assert (report.created, report.duplicates) == (len(in_file - set(base)), dups)
        assert report.merged == len(in_file & set(base))
        assert _contacts(migrated_engine) == expected
        assert {c.phone_e164 for c in repo.project_contacts("p")} == set(expected)
        base = expected


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 20])
def test_R_PRJ_7_csv_read_in_blocks_keeps_lines_fields_and_line_numbers(
    migrated_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Blocks cut anywhere: BOM, quoted fields over two lines, a lone CR and U+2028 inside fields, a last
    line without newline; bad rows keep their physical line numbers."""
    monkeypatch.setattr(contacts_import, "READ_BLOCK", block)
    text = (
        "phone;name;note\r\n"
        '0501234567;Іван;"two\nlines"\r\n'  # lines 2-3
        "not a number;X;y\r\n"  # line 4
        '0671234567;Ол\u2028ена;"a\rb"\r\n'  # line 5: U+2028 and a CR that are not line breaks
        "\r\n"  # line 6: blank
        "123;Y;z\r\n"  # line 7
        "0931234567;Петро;last"  # line 8, no newline
    )
    path = tmp_path / "b.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    report = import_contacts(ContactsRepo(migrated_engine), path, chunk_rows=2)
    assert [e.line for e in report.errors] == [4, 7]
    assert (report.rows, report.created, report.encoding) == (5, 3, "utf-8-sig")
    got = _contacts(migrated_engine)
    assert got["+380501234567"] == ("Іван", {"note": "two\nlines"})
    assert got["+380671234567"] == ("Ол\u2028ена", {"note": "a\rb"})
    assert got["+380931234567"] == ("Петро", {"note": "last"})


@pytest.mark.parametrize("block", [5, 4096])
def test_R_PRJ_7_undecodable_line_in_a_later_block_names_its_line(
    migrated_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(contacts_import, "READ_BLOCK", block)
    good = "".join(f"+3805012{i:05d};n{i}\r\n" for i in range(4000))  # past the 64 KB sniffed
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"phone;name\r\n" + good.encode() + "+380671234567;Ол\r\n".encode("cp1251") + b"0;1\r\n")
    with pytest.raises(ImportFileError, match=r"line 4002: not valid utf-8"):
        import_contacts(
            ContactsRepo(migrated_engine), path, chunk_rows=100
        )  # chunks written before the error
    _nothing_imported(migrated_engine)


def test_R_PRJ_7_unquoted_lone_cr_is_refused_with_its_line(migrated_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "cr.csv"
    path.write_bytes(b"phone;name\n0501234567;a\rb\n")
    with pytest.raises(ImportFileError, match=r"line 2: new-line character"):
        import_contacts(ContactsRepo(migrated_engine), path)
    _nothing_imported(migrated_engine)


def test_R_PRJ_7_awkward_text_survives_the_bulk_write_and_the_merge(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    """Tabs, backslashes, a literal \\N, quotes and newlines in names and fields: stored as read (PostgreSQL
    bulk-writes through COPY text, where these are escapes), on creation and on merge."""
    awkward = ["a\tb", "back\\slash", "\\N", 'q"uote', "new\nline", "cr\rhere", "\\.", "tab\t\\t"]
    rows = [["phone", "name", "note"]] + [
        [f"05012345{i:02d}", awkward[i], awkward[-1 - i]] for i in range(len(awkward))
    ]
    text = "".join(";".join('"' + c.replace('"', '""') + '"' for c in r) + "\n" for r in rows)
    path = tmp_path / "awk.csv"
    path.write_text(text, encoding="utf-8")
    report = import_contacts(ContactsRepo(migrated_engine), path)
    assert (report.created, report.bad_rows) == (len(awkward), 0)
    expected = {f"+3805012345{i:02d}": (awkward[i], {"note": awkward[-1 - i]}) for i in range(len(awkward))}
    assert _contacts(migrated_engine) == expected
    again = [["phone", "extra"]] + [[f"05012345{i:02d}", awkward[i]] for i in range(len(awkward))]
    path.write_text(
        "".join(";".join('"' + c.replace('"', '""') + '"' for c in r) + "\n" for r in again), encoding="utf-8"
    )
    report = import_contacts(ContactsRepo(migrated_engine), path, chunk_rows=3)
    assert (report.merged, report.created) == (len(awkward), 0)
    got = _contacts(migrated_engine)
    for i, a in enumerate(awkward):
        assert got[f"+3805012345{i:02d}"] == (a, {"note": awkward[-1 - i], "extra": a})


def test_R_PRJ_7_a_write_refused_by_the_database_midway_imports_nothing(
    migrated_engine: Engine, tmp_path: Path, service: ProjectService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the 51st chunk (a constraint, a full disk): the transaction leaves nothing."""
    service.create("p", "P", "autoinformer")
    good = "".join(f"+3805012{i:05d};n{i}\r\n" for i in range(5100))
    path = tmp_path / "many.csv"
    path.write_bytes(b"phone;name\r\n" + good.encode())
    real_merge = contacts_repo.ContactImport.merge  # both dialects' writers inherit it
    calls = {"n": 0}

    def merge(self: Any, rows: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 51:
            raise DBAPIError("INSERT", {}, Exception("disk full"))
        return real_merge(self, rows)

    monkeypatch.setattr(contacts_repo.ContactImport, "merge", merge)
    with pytest.raises(DBAPIError):
        import_contacts(ContactsRepo(migrated_engine), path, project_id="p", chunk_rows=100)
    _nothing_imported(migrated_engine)


def test_R_PRJ_7_a_nul_byte_past_the_sniffed_head_is_a_bad_row(
    migrated_engine: Engine, tmp_path: Path, service: ProjectService
) -> None:
    """Binary content is refused: in the first 64 KB the whole file, further on its row (PostgreSQL
    refuses NUL in text, SQLite would store it)."""
    service.create("p", "P", "autoinformer")
    good = "".join(f"+3805012{i:05d};n{i}\r\n" for i in range(5000))
    path = tmp_path / "nul.csv"
    path.write_bytes(
        b"phone;name\r\n" + good.encode() + b"+380671234567;bad\x00name\r\n" + b"+380671234568;x\r\n"
    )
    report = import_contacts(ContactsRepo(migrated_engine), path, project_id="p", chunk_rows=100)
    assert (report.created, report.bad_rows) == (5001, 1)
    assert (report.errors[0].line, report.errors[0].reason) == (5002, "binary content (NUL byte)")
    assert "+380671234567" not in _contacts(migrated_engine)


@pytest.mark.parametrize("write_only", [False, True], ids=["shared-strings", "inline-strings"])
def test_R_PRJ_7_xlsx_rows_read_as_openpyxl_reads_them(tmp_path: Path, write_only: bool) -> None:
    """The flat-memory sheet reader gives openpyxl's own values (types, dates, gaps, wide rows)."""
    from datetime import date, datetime

    from openpyxl import load_workbook

    rows: list[list[object]] = [
        ["phone", "name", "when", "n"],
        [380501234567, "Іван", datetime(2024, 5, 1, 9, 30), 1.5],
        ["067 123 45 67", None, date(2024, 1, 2), True],
        [],
        [None, None, None, None],
        ["0931234567", "=1+2", None, 10**15, "extra", None, "far"],
        [None, "only name"],
    ]
    path = tmp_path / "w.xlsx"
    wb = Workbook(write_only=write_only)
    ws = wb.create_sheet() if write_only else wb.active
    for r in rows:
        ws.append(r)
    if not write_only:
        ws.cell(row=12, column=2, value="after a gap")
    wb.save(path)

    def non_blank(pairs: Any) -> list[tuple[int, list[object]]]:
        return [(i, list(v)) for i, v in pairs if any(c is not None for c in v)]

    with path.open("rb") as f:
        book = load_workbook(f, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        expected = non_blank(enumerate(sheet.iter_rows(values_only=True), start=1))
        got = non_blank(contacts_import._xlsx_value_rows(book, sheet))
        book.close()
    assert got == expected
    assert len(got) == (5 if write_only else 6) and got[-1][0] == (7 if write_only else 12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=6))
def test_R_PRJ_7_quick_fields_json_is_json_dumps(fields: dict[str, str]) -> None:
    """New contacts' fields are serialized by a quick encoder: the very text json.dumps gives."""
    assert contacts_repo._json_str_dict(fields) == json.dumps(fields)
