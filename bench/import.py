"""Contacts import throughput and peak memory (R-PRJ-7): a 1M-row CSV and a 200k-row XLSX.

Run: python bench/import.py [--csv-rows 1000000] [--xlsx-rows 200000] [--db sqlite|postgres|URL]
     [--profile N] [--no-tenth] [--repeat N] [--reimport]
Each case runs in a child process so its peak RSS (ru_maxrss) is its own.
Prints rows/s and peak RSS; docs/projects.md and docs/performance.md record the figures.
``--db postgres`` uses the test server (``CCAGENT_TEST_PG_URL`` or the URL of tests/conftest.py) in a
fresh schema per case, dropped afterwards.  ``--profile N`` prints the N top cProfile entries (cumulative)
of each case to stderr (profiling slows the run: use it for where the time goes, not for rates).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql+psycopg://ccagent:ccagent@127.0.0.1:5432/ccagent_test"


def make_csv(path: Path, rows: int) -> None:
    """Numbers written nationally with spaces (the common export), ~1 in 20 repeated, a few bad."""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phone;name;city;segment\n")
        for i in range(rows):
            f.write(f"050 {i // 10000:03d} {i // 100 % 100:02d} {i % 100:02d};Клієнт {i};Київ;s{i % 7}\n")


def make_xlsx(path: Path, rows: int) -> None:
    """As Excel saves a sheet: a shared-string table and a <dimension> (openpyxl's write-only mode writes
    neither, and without a dimension openpyxl parses the whole sheet once more just to size it)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Номер телефону", "ПІБ", "Місто"])
    for i in range(rows):
        ws.append([f"+38067{i:07d}", f"Клієнт {i}", "Львів"])
    wb.save(path)


def _pg_schema_url(base: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def _pg_drop(base: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def child(file: str, db: str, profile: int, reimport: bool = False) -> None:
    sys.path.insert(0, str(REPO))
    from ccagent.app.contacts_import import import_contacts
    from ccagent.storage import db as dbm
    from ccagent.storage.contacts_repo import ContactsRepo

    engine = dbm.make_engine(db)
    dbm.upgrade(engine)
    contacts = ContactsRepo(engine)
    if reimport:  # the timed import then merges every row into a contact already in the base
        import_contacts(contacts, file, default_region="UA")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t = time.perf_counter()
    rep = import_contacts(contacts, file, default_region="UA")
    dt = time.perf_counter() - t
    if prof is not None:
        import pstats

        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(profile)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(profile)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rep.rows, "created": rep.created, "merged": rep.merged,
                      "duplicates": rep.duplicates, "bad": rep.bad_rows, "s": dt, "rows_per_s": rep.rows / dt,
                      "peak_rss_mb": rss_mb, "rss_before_mb": rss0}))  # fmt: skip


def run(
    file: Path, tmp: Path, label: str, db: str, profile: int, repeat: int = 1, reimport: bool = False
) -> None:
    """``repeat`` runs (fresh database each): each is printed, then the median (the box may be shared)."""
    rates = []
    for _ in range(repeat):
        rates.append(run_once(file, tmp, label, db, profile, reimport))
    if repeat > 1:
        rates.sort()
        print(f"{label}: median of {repeat} runs {rates[len(rates) // 2]:,.0f} rows/s "
              f"(min {rates[0]:,.0f}, max {rates[-1]:,.0f})", flush=True)  # fmt: skip


def run_once(file: Path, tmp: Path, label: str, db: str, profile: int, reimport: bool = False) -> float:
    schema = None
    base = ""
    if db == "sqlite":
        url = f"sqlite:///{tmp / (label.replace(' ', '_') + '.db')}"
        for suffix in ("", "-wal", "-shm"):
            Path(url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)
    else:
        base = os.environ.get("CCAGENT_TEST_PG_URL", DEFAULT_PG_URL) if db == "postgres" else db
        url, schema = _pg_schema_url(base)
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", str(file), url, str(profile)]
                              + (["--reimport"] if reimport else []),
                              capture_output=True, text=True)  # fmt: skip
    finally:
        if schema:
            _pg_drop(base, schema)
    if profile or proc.returncode:
        sys.stderr.write(proc.stderr)
    proc.check_returncode()
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    size_mb = file.stat().st_size / 1e6
    print(f"{label} [{'sqlite' if db == 'sqlite' else 'postgresql'}]: {r['rows']} rows ({size_mb:.0f} MB, "
          f"{r['created']} created, {r['merged']} merged, {r['duplicates']} duplicates, {r['bad']} bad) "
          f"in {r['s']:.2f} s = "
          f"{r['rows_per_s']:,.0f} rows/s, peak RSS {r['peak_rss_mb']:.0f} MB "
          f"(before the import {r['rss_before_mb']:.0f} MB)", flush=True)  # fmt: skip
    return float(r["rows_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv-rows", type=int, default=1_000_000)
    ap.add_argument("--xlsx-rows", type=int, default=200_000)
    ap.add_argument("--db", default="sqlite", help="sqlite (a file), postgres (the test server) or a URL")
    ap.add_argument("--profile", type=int, default=0, help="print the N top cProfile entries per case")
    ap.add_argument("--no-tenth", action="store_true", help="skip the 1/10-size CSV case (memory check)")
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs per case (fresh database each); prints the median"
    )
    ap.add_argument(
        "--reimport", action="store_true", help="time a second import of the same file (all merges)"
    )
    ap.add_argument("--make-xlsx", nargs=2)
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.make_xlsx:
        make_xlsx(Path(args.make_xlsx[0]), int(args.make_xlsx[1]))
        return
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.reimport)
        return
    with tempfile.TemporaryDirectory(prefix="ccagent-import-bench-") as d:
        tmp = Path(d)
        sizes = {args.csv_rows} if args.no_tenth else {args.csv_rows // 10, args.csv_rows}
        for rows in sorted(s for s in sizes if s):
            f = tmp / f"c{rows}.csv"
            make_csv(f, rows)
            label = f"csv {rows}" + (" re-import" if args.reimport else "")
            run(f, tmp, label, args.db, args.profile, args.repeat, args.reimport)
        if args.xlsx_rows:
            f = tmp / "c.xlsx"
            # in its own process: the workbook is built in memory, and a child forked from a big
            # parent inherits its peak RSS (ru_maxrss)
            subprocess.run([sys.executable, __file__, "--make-xlsx", str(f), str(args.xlsx_rows)], check=True)
            run(f, tmp, f"xlsx {args.xlsx_rows}", args.db, args.profile, args.repeat)


if __name__ == "__main__":
    main()
