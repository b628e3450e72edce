"""Dagster's SQLite event log, keeping one database engine per file instead of one per event.

Why: a build stores about two thousand events (every dbt model's materialization, every dbt test's
check evaluation, step events), and Dagster's SQLite storage opens a new SQLAlchemy engine, connects,
initialises the dialect and disposes of it for each one, and asks SQLite whether the asset-check table
exists before each check event. Profiled on a no-op rebuild of the 2,000-conversation sample, that was
about 16 s of the build process's CPU (``bench/event_storage.py`` measures it against the stock class).

Same files, same schema, same transactions: the stock class reads what this one wrote and the other
way round (the Dagster UI may use either). Engines are kept for the few most recent files only, so a
long-lived process that reads many runs (the UI) holds a bounded number. Configured in the data
folder's ``dagster.yaml`` (``service_insight.cli``); a ``dagster.yaml`` a user wrote is left alone.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

KEPT_ENGINES = 8
MODULE, CLASS = __name__, "ReusingSqliteEventLogStorage"


class ReusingSqliteEventLogStorage(SqliteEventLogStorage):
    """:class:`SqliteEventLogStorage` with pooled connections per shard and the table probe remembered."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables: dict[str, bool] = {}
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "ReusingSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        # The file may not exist yet (a new run): the stock class creates it on first connect too.
        engine = create_engine(self.conn_string_for_shard(shard), poolclass=QueuePool, pool_size=1,
                               max_overflow=4, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                                             "check_same_thread": False})
        self._engines[shard] = engine
        while len(self._engines) > KEPT_ENGINES:
            _, old = self._engines.popitem(last=False)
            old.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def has_table(self, table_name: str) -> bool:
        # Tables are added by schema migrations (``dagster instance migrate``), never during a run.
        if table_name not in self._tables:
            self._tables[table_name] = super().has_table(table_name)
        return self._tables[table_name]

    def wipe(self) -> None:
        self.dispose()
        super().wipe()

    def delete_events(self, run_id: str) -> None:
        engine = self._engines.pop(run_id, None)
        if engine is not None:
            engine.dispose()
        super().delete_events(run_id)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        super().dispose()


def storage_config(history_dir: str) -> str:
    """The ``dagster.yaml`` section that selects this class over the given folder (YAML text)."""
    return (f"event_log_storage:\n  module: {MODULE}\n  class: {CLASS}\n  config:\n"
            f"    base_dir: {os.fspath(history_dir)}\n")


