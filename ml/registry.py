"""Model versions and their evaluations, in the warehouse and beside the checkpoints.

Why both: the warehouse tables (``ml.ml_model_runs``, ``ml.ml_eval_per_class``,
``ml.ml_eval_confusion``) are what analysts and dashboards query and compare (A/B of two
versions); the ``CURRENT`` pointer in the model folder is what inference reads, so predicting
never needs the warehouse's write lock.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ml.classifier import TrainResult


def new_version(task: str) -> str:
    return f"{task}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema if not exists ml")
    conn.execute("""
        create table if not exists ml.ml_model_runs (
            task varchar not null, model_version varchar not null, base_checkpoint varchar, path varchar not null,
            trained_at timestamp not null, train_seconds double, train_examples bigint, eval_examples bigint,
            accuracy double, macro_f1 double, labels json, config json, is_current boolean not null
        )""")
    conn.execute("""
        create table if not exists ml.ml_eval_per_class (
            task varchar not null, model_version varchar not null, label varchar not null,
            precision double, recall double, f1 double, support bigint
        )""")
    conn.execute("""
        create table if not exists ml.ml_eval_confusion (
            task varchar not null, model_version varchar not null, true_label varchar not null,
            predicted_label varchar not null, n bigint not null
        )""")


def register(conn: duckdb.DuckDBPyConnection, task: str, version: str, result: TrainResult,
             make_current: bool = True) -> None:
    """Record a trained version and its evaluation; optionally make it the one inference uses."""
    ensure_tables(conn)
    m = result.metrics
    conn.execute("begin transaction")
    try:
        if make_current:
            conn.execute("update ml.ml_model_runs set is_current = false where task = ?", [task])
        conn.execute(
            "insert into ml.ml_model_runs values (?, ?, ?, ?, now()::timestamp, ?, ?, ?, ?, ?, ?, ?, ?)",
            [task, version, result.base, str(result.path), result.seconds, m.get("train_examples"),
             m.get("eval_examples"), m.get("accuracy"), m.get("macro_f1"), json.dumps(result.labels),
             json.dumps(result.config), make_current])
        if "per_class" in m:
            conn.executemany("insert into ml.ml_eval_per_class values (?, ?, ?, ?, ?, ?, ?)", [
                (task, version, c["label"], c["precision"], c["recall"], c["f1"], c["support"])
                for c in m["per_class"]])
            labels, matrix = m["confusion"]["labels"], m["confusion"]["matrix"]
            conn.executemany("insert into ml.ml_eval_confusion values (?, ?, ?, ?, ?)", [
                (task, version, labels[i], labels[j], n) for i, row in enumerate(matrix) for j, n in enumerate(row) if n])
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    if make_current:
        set_current_pointer(result.path.parent, version)


def set_current_pointer(task_dir: Path, version: str) -> None:
    tmp = task_dir / ".CURRENT.tmp"
    tmp.write_text(version)
    os.replace(tmp, task_dir / "CURRENT")


def current_model_dir(model_root: Path, task: str) -> Path | None:
    """The checkpoint inference should use for ``task`` (None before the first training)."""
    pointer = model_root / task / "CURRENT"
    if not pointer.exists():
        return None
    path = model_root / task / pointer.read_text().strip()
    return path if path.exists() else None
