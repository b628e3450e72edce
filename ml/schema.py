"""Every ``ml.*`` table at once, empty where nothing has been scored yet.

Why: the first build of a new warehouse publishes the core marts before any model has run
(``service-insight run``); the dbt models that read model outputs then need the tables to exist,
with their final columns, so they build empty instead of failing. Each table is still created by
the module that writes it; this only calls those creators in one place.
"""

from __future__ import annotations

import duckdb

from ml.intent import ensure_prediction_table as ensure_intent_table
from ml.registry import ensure_tables as ensure_registry_tables
from ml.retrieval import ensure_retrieval_tables
from ml.tasks import TEXT_TASKS
from ml.translation import ensure_translation_tables
from ml.turn_tasks import ensure_prediction_table as ensure_turn_table


def ensure_ml_tables(conn: duckdb.DuckDBPyConnection, embedding_dim: int) -> None:
    """Create any missing ``ml.*`` table (existing ones and their rows are left as they are)."""
    ensure_registry_tables(conn)
    ensure_intent_table(conn)
    for task in TEXT_TASKS:
        if task.unit == "turn":
            ensure_turn_table(conn, task)
    ensure_retrieval_tables(conn, embedding_dim)
    ensure_translation_tables(conn)
