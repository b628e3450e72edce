"""The warehouse's landed tables as Parquet files on shared storage, registered on Spark for the dbt target ``spark``.

Why: one DuckDB file serves one machine. Where the marts outgrow it, the Spark target reads the same
raw and scored tables from a folder of Parquet files (a local path here; on a real cluster a shared
filesystem or object store every executor reads), one folder per table, split into files of at most
``FILE_BYTES`` so executors read them in parallel. ARCHITECTURE.md ("Where the warehouse lives when
it outgrows one file") says why this and not DuckLake for the Spark target.

What differs from the ``raw`` schema: the columns staging masks with the Python recognisers or hashes
with the PII key are written already masked (the same DuckDB functions the dbt plugin registers, so
the values are identical). Spark can run neither the recognisers (a Thrift session runs SQL only) nor
should it hold the key, and the shared folder then never holds those texts unmasked. The Spark
dispatch of ``mask_pii``, ``mask_pii_rules`` and ``caller_number_hash`` (dbt/macros) passes these
columns through unchanged.

Each table is written to a temporary folder and swapped in whole, so a reader never sees half a table
and a re-export replaces rather than appends (re-running is safe).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

# The exported schemas: landed records and the enrichment's scored tables (sources of the dbt project).
SCHEMAS = ("raw", "ml")
FILE_BYTES = "64MB"
# The dbt project's schemas (dbt_project.yml): dbt-spark lists a schema's tables before it would create it.
DBT_SCHEMAS = ("staging", "intermediate", "marts", "reference", "analytics")

# Column -> the DuckDB expression that masks it exactly as the staging model does (keep in step with
# dbt/models/staging/raw: stg_raw__turns, __survey_answers, __training_sessions, __quarantine, __calls).
MASKED_COLUMNS: dict[tuple[str, str], dict[str, str]] = {
    ("raw", "turns"): {"text": "si_mask_pii(text)"},
    ("raw", "survey_answers"): {"answer_text": "si_mask_pii(answer_text)"},
    ("raw", "training_sessions"): {"transcript": "si_mask_pii(transcript)"},
    ("raw", "quarantine"): {"reason": "si_mask_pii_rules(reason)", "raw_record": "si_mask_pii(raw_record)"},
    ("raw", "calls"): {"caller_number": "case when nullif(trim(caller_number), '') is not null then "
                                        "sha256(si_pii_key() || regexp_replace(caller_number, '[^0-9+]', '', 'g')) end"},
}


@dataclass(frozen=True)
class ExportedTable:
    schema: str
    table: str
    rows: int
    path: Path


def lake_dir() -> Path:
    from service_insight.settings import get_settings

    return get_settings().data_dir / "lake"


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    from service_insight.settings import get_settings
    from warehouse.dbt_secrets import define_key_macro, register_mask_function

    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as exc:  # no file yet, or a build holds the writer's lock
        raise RuntimeError(f"cannot read the warehouse {warehouse} ({exc}): build it first (make materialize), or "
                           "wait for the running build to finish") from exc
    define_key_macro(con, get_settings().pii_key())
    register_mask_function(con)
    return con


def _select(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    columns = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()]
    masked = MASKED_COLUMNS.get((schema, table), {})
    exprs = [f'{masked[c]} as "{c}"' if c in masked else f'"{c}"' for c in columns]
    return f'select {", ".join(exprs)} from "{schema}"."{table}"'


def export(warehouse: Path | None = None, target: Path | None = None) -> list[ExportedTable]:
    """Write every table of the exported schemas to ``target/<schema>/<table>/`` (masked as above)."""
    from service_insight.settings import get_settings

    warehouse = warehouse or get_settings().warehouse_path
    target = target or lake_dir()
    con = _connect(warehouse)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema in "
            f"({', '.join('?' for _ in SCHEMAS)}) and table_type = 'BASE TABLE' order by 1, 2", list(SCHEMAS)
        ).fetchall()
        done = []
        for schema, table in tables:
            final = target / schema / table
            staging = final.parent / f".{table}.writing"
            shutil.rmtree(staging, ignore_errors=True)
            staging.parent.mkdir(parents=True, exist_ok=True)
            rows = con.execute(f"select count(*) from \"{schema}\".\"{table}\"").fetchone()[0]
            # An empty table still gets a file: Spark infers the columns from it.
            con.execute(f"copy ({_select(con, schema, table)}) to '{staging}' "
                        f"(format parquet, file_size_bytes '{FILE_BYTES}', per_thread_output false)")
            swap_in(staging, final)
            done.append(ExportedTable(schema, table, int(rows), final))
        return done
    finally:
        con.close()


def swap_in(staging: Path, final: Path) -> None:
    """Put a fully written folder in place of ``final`` (renames only; the old one is deleted after)."""
    old = final.parent / f".{final.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def spark_connection(host: str | None = None, port: int | None = None):
    """A PyHive cursor on the Thrift server (the one ``service-insight cluster up`` starts by default)."""
    from service_insight.settings import get_settings

    settings = get_settings()
    try:
        from pyhive import hive
    except ImportError as exc:
        raise RuntimeError("the Spark client is not installed: `make cluster-up` installs it (pip install -e "
                           "'.[spark]') and starts a local Spark") from exc
    host, port = host or settings.spark_thrift_host, port or settings.spark_thrift_port
    try:
        return hive.connect(host=host, port=port, username="service-insight").cursor()
    except Exception as exc:  # thrift raises TTransportException, socket errors, ...
        raise RuntimeError(f"no Spark Thrift server answers at {host}:{port} ({exc}); start one with "
                           "`make cluster-up` (or set SI_SPARK_THRIFT_HOST / SI_SPARK_THRIFT_PORT)") from exc


def register(tables: list[ExportedTable], cursor=None) -> None:
    """Point Spark's ``<schema>.<table>`` at each exported folder (external tables: dropping them keeps the files).

    Dropped and created again rather than refreshed: a re-export may change columns, and Spark fixes a
    Parquet table's columns when it is created.
    """
    cursor = cursor or spark_connection()
    for schema in sorted({t.schema for t in tables} | set(DBT_SCHEMAS)):
        cursor.execute(f"create database if not exists `{schema}`")
    for t in tables:
        cursor.execute(f"drop table if exists `{t.schema}`.`{t.table}`")
        cursor.execute(f"create table `{t.schema}`.`{t.table}` using parquet location '{t.path.resolve().as_uri()}'")
