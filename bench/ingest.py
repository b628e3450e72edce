"""Ingestion throughput: our validated loader beside DuckDB's own readers on the same files.

    python bench/ingest.py [--turns 1000000]

Generates a sample holding about N turns (CSV) plus its voice features and orders (Parquet),
then loads them (1) with ``warehouse.ingest.load_source`` — parsing, per-record line numbers,
type/required/limit checks, quarantine, manifest, one transaction per batch — and (2) with a
plain ``CREATE TABLE AS SELECT * FROM read_csv/read_parquet`` on the same files. The ratio of
the two is the cost of never losing a record silently. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from sample_data.core import GeneratorConfig  # noqa: E402
from sample_data.writer import generate  # noqa: E402
from warehouse.ingest import load_source  # noqa: E402
from warehouse.sources import SOURCE_BY_NAME  # noqa: E402

TURNS_PER_CONVERSATION = 7.3  # measured on the generator's output


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--workdir", default=None, help="keep files here (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="si-bench-ingest-"))
    conversations = int(args.turns / TURNS_PER_CONVERSATION)
    print(f"generating ~{args.turns:,} turns ({conversations:,} conversations over {args.days} days) in {work}")
    t0 = time.perf_counter()
    summary = generate(GeneratorConfig(conversations=conversations, days=args.days, bad_row_rate=0.0),
                       work / "landing", work / "truth", progress=False)
    print(f"  generated {summary['turns']:,} turns in {time.perf_counter() - t0:.1f} s")
    landing = work / "landing"
    rows = []
    for source, reader in (("turns", "read_csv"), ("voice_features", "read_parquet"), ("orders", "read_parquet")):
        spec = SOURCE_BY_NAME[source]
        db_ours = work / f"ours_{source}.duckdb"
        db_plain = work / f"plain_{source}.duckdb"
        for p in (db_ours, db_plain):
            p.unlink(missing_ok=True)
        with duckdb.connect(str(db_ours)) as conn:
            t = time.perf_counter()
            report = load_source(conn, spec, landing)
            ours = time.perf_counter() - t
        pattern = f"{landing}/{source}/*.{'csv' if reader == 'read_csv' else 'parquet'}"
        with duckdb.connect(str(db_plain)) as conn:
            t = time.perf_counter()
            conn.execute(f"create table plain as select * from {reader}('{pattern}')")
            plain = time.perf_counter() - t
            plain_rows = conn.execute("select count(*) from plain").fetchone()[0]
        rows.append((source, report.rows_loaded, ours, plain_rows, plain))
    print(f"\n{'source':<16}{'rows':>12}{'ours s':>10}{'ours rows/s':>14}{'duckdb s':>10}{'duckdb rows/s':>15}{'ratio':>8}")
    for source, n, ours, n_plain, plain in rows:
        print(f"{source:<16}{n:>12,}{ours:>10.2f}{n / ours:>14,.0f}{plain:>10.2f}{n_plain / plain:>15,.0f}"
              f"{(n / ours) / (n_plain / plain):>8.2f}")
    print(f"\npeak RSS {peak_rss_mb():,.0f} MB; cores {os.cpu_count()}; duckdb {duckdb.__version__}")
    print("ratio = our rows/s divided by DuckDB's rows/s on the same files (1.0 = as fast as a bare read)")


if __name__ == "__main__":
    main()
