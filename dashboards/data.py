"""Read access to the published snapshot for every page.

Why: the dashboards never touch the writer's file. They read the snapshot named in
CURRENT.json through one cached read-only connection per snapshot file and a cursor per query;
query results are cached per snapshot version, so a new build refreshes every page.
All queries are parameterised; filters never become SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd
import streamlit as st

from service_insight.settings import get_settings
from warehouse.snapshot import SnapshotRef, current


def snapshot() -> SnapshotRef | None:
    return current(get_settings().snapshot_dir)


@st.cache_resource(max_entries=4)
def _connection(path: str) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(path, read_only=True)


@st.cache_data(ttl=600, max_entries=256, show_spinner=False)
def _run(sql: str, params: tuple, version: str, path: str) -> pd.DataFrame:
    cursor = _connection(path).cursor()
    try:
        return cursor.execute(sql, list(params)).df()
    finally:
        cursor.close()


def query(sql: str, params: tuple = ()) -> pd.DataFrame:
    """Run a read query on the current snapshot (empty frame before the first build)."""
    ref = snapshot()
    if ref is None:
        return pd.DataFrame()
    return _run(sql, tuple(params), ref.version, str(ref.path))


def has_table(name: str) -> bool:
    df = query("select count(*) as n from information_schema.tables where table_schema = 'marts' and table_name = ?",
               (name,))
    return not df.empty and int(df.iloc[0]["n"]) > 0


def has_columns(table: str, *columns: str) -> bool:
    """Whether ``marts.<table>`` has every one of ``columns`` (a snapshot built before they existed has not)."""
    df = query("select column_name from information_schema.columns where table_schema = 'marts' and table_name = ?",
               (table,))
    return set(columns) <= set(df["column_name"]) if not df.empty else False


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    channels: tuple[str, ...]
    queues: tuple[str, ...]

    def where(self, date_col: str, channel_col: str = "channel", queue_col: str | None = "queue_id") -> tuple[str, list]:
        """A parameterised WHERE clause for the global filters."""
        clauses = [f"{date_col} between ? and ?"]
        params: list = [self.start, self.end]
        if self.channels:
            clauses.append(f"{channel_col} in ({', '.join('?' for _ in self.channels)})")
            params.extend(self.channels)
        if self.queues and queue_col:
            clauses.append(f"{queue_col} in ({', '.join('?' for _ in self.queues)})")
            params.extend(self.queues)
        return " and ".join(clauses), params

    def previous(self) -> "Filters":
        """The period of the same length just before this one (for trends)."""
        span = self.end - self.start
        prev_end = self.start - pd.Timedelta(days=1)
        return Filters(prev_end - span, prev_end, self.channels, self.queues)


def current_filters() -> Filters | None:
    return st.session_state.get("filters")
