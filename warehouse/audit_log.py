"""Copy the dashboards' audit log into ``raw.audit_events``, where analysts and auditors can query it.

Why a copy and not the file alone: the log (``dashboards/audit.py``) is written by dashboard
processes that never open the warehouse; a warehouse table keeps every event queryable with the
rest of the data and survives the file being rotated or lost.

Each line is keyed by its line number and the SHA-256 of its bytes, so loading is idempotent:
lines already copied are skipped and only new ones are added. The log is append-only, so a line
whose bytes differ from the copy taken earlier means the file was edited, truncated or replaced;
the warehouse keeps the earlier copy and the load reports the lines that changed (tamper evidence).
A line that is not a JSON object is kept too, with ``event`` = ``unreadable`` and its raw text,
so nothing in the log vanishes from the counts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

MAX_TEXT = 2_000  # a hostile user name or detail cannot bloat the table

DDL = """
create schema if not exists raw;
create table if not exists raw.audit_events (
    line_no bigint not null,
    line_sha256 varchar not null,
    event_at timestamptz,
    event varchar not null,
    user_name varchar,
    detail json,
    raw_line varchar,
    loaded_at timestamptz not null default current_timestamp,
    primary key (line_no)
)
"""


@dataclass(frozen=True)
class AuditLoad:
    lines_in_file: int
    lines_added: int
    lines_changed: tuple[int, ...]  # line numbers whose bytes differ from the copy already loaded
    lines_missing: int  # lines loaded earlier that the file no longer has (truncated or replaced)


def _row(line_no: int, raw: bytes) -> tuple:
    digest = hashlib.sha256(raw).hexdigest()
    text = raw.decode("utf-8", errors="replace")
    try:
        entry = json.loads(text)
        if not isinstance(entry, dict):
            raise ValueError("not an object")
    except ValueError:
        return (line_no, digest, None, "unreadable", None, None, text[:MAX_TEXT])
    at = entry.pop("at", None)
    event = str(entry.pop("event", "") or "unknown")[:100]
    user = entry.pop("user", None)
    detail = json.dumps(entry, ensure_ascii=False, default=str)[:MAX_TEXT] if entry else None
    if detail is not None and len(detail) == MAX_TEXT:
        detail = json.dumps({"truncated": detail[:MAX_TEXT - 100]}, ensure_ascii=False)
    return (line_no, digest, None if at is None else str(at)[:64], event, None if user is None else str(user)[:200], detail, None)


def load_audit_log(conn: duckdb.DuckDBPyConnection, path: Path) -> AuditLoad:
    """Add the log's new lines to ``raw.audit_events``; report lines that changed since they were copied."""
    conn.execute(DDL)
    lines = path.read_bytes().splitlines() if path.is_file() else []
    known = dict(conn.execute("select line_no, line_sha256 from raw.audit_events").fetchall())
    rows, changed = [], []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            if number in known:
                changed.append(number)
            continue
        row = _row(number, raw)
        if number not in known:
            rows.append(row)
        elif known[number] != row[1]:
            changed.append(number)
    if rows:
        conn.execute("begin")
        try:
            conn.executemany(
                "insert into raw.audit_events (line_no, line_sha256, event_at, event, user_name, detail, raw_line) "
                "values (?, ?, try_cast(? as timestamptz), ?, ?, ?, ?)", rows)
            conn.execute("commit")
        except Exception:
            conn.execute("rollback")
            raise
    missing = sum(1 for n in known if n > len(lines))
    return AuditLoad(len(lines), len(rows), tuple(changed), missing)
