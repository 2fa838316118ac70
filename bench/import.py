"""Contacts import throughput and peak memory (R-PRJ-7): a 1M-row CSV and a 200k-row XLSX into SQLite.

Run: python bench/import.py [--csv-rows 1000000] [--xlsx-rows 200000]
Each case runs in a child process so its peak RSS (ru_maxrss) is its own.
Prints rows/s and peak RSS; docs/projects.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phone;name;city;segment\n")
        for i in range(rows):
            f.write(f"050 {i // 10000:03d} {i // 100 % 100:02d} {i % 100:02d};Клієнт {i};Київ;s{i % 7}\n")


def make_xlsx(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["Номер телефону", "ПІБ", "Місто"])
    for i in range(rows):
        ws.append([f"+38067{i:07d}", f"Клієнт {i}", "Львів"])
    wb.save(path)


def child(file: str, db: str) -> None:
    sys.path.insert(0, str(REPO))
    from ccagent.app.contacts_import import import_contacts
    from ccagent.storage import db as dbm

    engine = dbm.make_engine(db)
    dbm.upgrade(engine)
    t = time.perf_counter()
    rep = import_contacts(engine, file, default_region="UA")
    dt = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rep.rows, "created": rep.created, "s": dt, "rows_per_s": rep.rows / dt,
                      "peak_rss_mb": rss_mb}))  # fmt: skip


def run(file: Path, tmp: Path, label: str) -> None:
    db = f"sqlite:///{tmp / (label + '.db')}"
    out = subprocess.run([sys.executable, __file__, "--child", str(file), db], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    r = json.loads(out.strip().splitlines()[-1])
    size_mb = file.stat().st_size / 1e6
    print(f"{label}: {r['rows']} rows ({size_mb:.0f} MB) in {r['s']:.1f} s = {r['rows_per_s']:,.0f} rows/s, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv-rows", type=int, default=1_000_000)
    ap.add_argument("--xlsx-rows", type=int, default=200_000)
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="ccagent-import-bench-") as d:
        tmp = Path(d)
        for rows in sorted({args.csv_rows // 10, args.csv_rows}):
            f = tmp / f"c{rows}.csv"
            make_csv(f, rows)
            run(f, tmp, f"csv {rows}")
        if args.xlsx_rows:
            f = tmp / "c.xlsx"
            make_xlsx(f, args.xlsx_rows)
            run(f, tmp, f"xlsx {args.xlsx_rows}")


if __name__ == "__main__":
    main()
