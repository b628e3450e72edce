"""``service-insight export conversations``: one row per conversation, to CSV or Parquet, masked for a role.

Why: analysts take the contact-level table to their own tools (spreadsheets, notebooks, BI). The rows
come from ``marts.fct_conversation_summary`` in the published snapshot (so an export never sees a
half-built warehouse and never waits for a build), are written by DuckDB itself (no row-by-row
Python), land in a temporary file renamed into place (a reader never sees half a file), and every
export is written to the audit log with who, which role and how many rows.

Masking follows the dashboards' roles (``dashboards.access``): the masked first customer message is
conversation text, so it is exported only for the roles that may read text; every other column is
an aggregate-grade reading every analyst sees.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from service_insight.settings import get_settings

SUMMARY_TABLE = "marts.fct_conversation_summary"
TEXT_COLUMNS = ("first_customer_message",)  # exported only for roles that may read conversation text
FORMATS = ("csv", "parquet")


class ExportError(RuntimeError):
    """The export cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class ExportResult:
    path: str
    rows: int
    columns: int
    role: str
    format: str
    since: str | None
    until: str | None
    snapshot_version: str
    first_date: str | None  # the snapshot's first and last business dates, whatever the filter
    last_date: str | None
    text_included: bool


def _text_roles() -> tuple[str, ...]:
    from dashboards.access import ROLES, TEXT_ROLES

    return ROLES, TEXT_ROLES


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_conversations(fmt: str = "csv", since: date | None = None, until: date | None = None,
                         role: str = "analyst", out: Path | None = None, user: str | None = None) -> ExportResult:
    """Write the conversations started on ``since``..``until`` (business dates, both included) for ``role``."""
    from dashboards import audit
    from warehouse.snapshot import current, open_readonly

    roles, text_roles = _text_roles()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if role not in roles:
        raise ExportError(f"unknown role {role!r}: use one of {', '.join(roles)}")
    if since and until and since > until:
        raise ExportError(f"--since {since} is after --until {until}")
    settings = get_settings()
    ref = current(settings.snapshot_dir)
    if ref is None:
        raise ExportError(f"no published snapshot in {settings.snapshot_dir}: build first (make run, or "
                          "service-insight materialize)")
    if SUMMARY_TABLE not in ref.tables:
        raise ExportError(f"snapshot {ref.version} has no {SUMMARY_TABLE} (built before it existed): run a build")
    with open_readonly(ref) as conn:
        schema, table = SUMMARY_TABLE.split(".")
        names = [r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position", [schema, table]).fetchall()]
        text_included = role in text_roles
        columns = [n for n in names if text_included or n not in TEXT_COLUMNS]
        first, last = conn.execute(f"select min(started_date), max(started_date) from {SUMMARY_TABLE}").fetchone()
        where = []
        if since:
            where.append(f"started_date >= date '{since.isoformat()}'")  # a parsed date: safe to inline
        if until:
            where.append(f"started_date <= date '{until.isoformat()}'")
        query = (f"select {', '.join(columns)} from {SUMMARY_TABLE}"
                 f"{' where ' + ' and '.join(where) if where else ''} order by started_at_utc, conversation_id")
        window = "".join(f"-{k}-{d.isoformat()}" for k, d in (("since", since), ("until", until)) if d)
        target = Path(out) if out else settings.data_dir / "exports" / f"conversations-{ref.version}{window}.{fmt}"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        options = "format csv, header true" if fmt == "csv" else "format parquet, compression zstd"
        try:
            # COPY answers with the number of rows it wrote: the count is of the file, not a second query.
            rows = conn.execute(f"copy ({query}) to {_sql_path(partial)} ({options})").fetchone()[0]
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    result = ExportResult(str(target), int(rows), len(columns), role, fmt, since and since.isoformat(),
                          until and until.isoformat(), ref.version, first and str(first), last and str(last),
                          text_included)
    audit.record("export", user or f"cli:{getpass.getuser()}", what="conversations", rows=result.rows,
                 role=role, format=fmt, since=result.since, until=result.until, file=result.path,
                 snapshot=ref.version)
    return result


def describe(result: ExportResult) -> str:
    """The line a person reads: what was written, and why it may hold fewer rows than expected."""
    window = f"{result.since or 'the start'} .. {result.until or 'the end'}"
    text = "with" if result.text_included else "without"
    line = (f"wrote {result.rows:,} conversations ({window}) to {result.path}: {result.columns} columns, "
            f"{text} the masked first message (role {result.role}), snapshot {result.snapshot_version}")
    if result.rows == 0:
        covered = f"{result.first_date} .. {result.last_date}" if result.first_date else "no conversations"
        line += f"; none started in that window (the snapshot covers {covered})"
    return line


def cmd_export(args: argparse.Namespace) -> int:
    try:
        result = export_conversations(args.format, args.since, args.until, args.role, args.out)
    except ExportError as exc:
        print(f"export failed: {exc}")
        return 2
    print(json.dumps(asdict(result)) if args.json else describe(result))
    return 0


def add_export_parser(sub) -> None:
    e = sub.add_parser("export", help="write one row per conversation (every metric and reading) to CSV or Parquet")
    e.add_argument("what", choices=("conversations",))
    e.add_argument("--since", type=date.fromisoformat, help="first business date, YYYY-MM-DD (default: all)")
    e.add_argument("--until", type=date.fromisoformat, help="last business date, YYYY-MM-DD (default: all)")
    e.add_argument("--format", choices=FORMATS, default="csv")
    e.add_argument("--role", default="analyst",
                   help="mask as this dashboard role requires (analyst: no conversation text; supervisor, "
                        "data-steward, admin: the masked first message too)")
    e.add_argument("--out", type=Path, help="file to write (default $SI_DATA_DIR/exports/conversations-SNAPSHOT"
                                            "[-since-D][-until-D].EXT)")
    e.add_argument("--json", action="store_true", help="print the result as one JSON line")
    e.set_defaults(func=cmd_export)
