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


SELECTION_COLUMNS = (
    ("chosen_candidate", "varchar"),  # which candidate the trainer kept (char_tfidf, encoder_lr, ensemble, ...)
    ("selection_reason", "varchar"),
    ("candidates", "json"),  # name -> cross-validated macro-F1, accuracy, ECE, seconds, or why it was skipped
    ("cv_macro_f1", "double"),  # the chosen candidate's, on the training labels out of fold
    ("ece", "double"),  # expected calibration error on the eval set
)


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
    # Added with candidate selection (ml.text_models); older warehouses gain the columns in place.
    for column, kind in SELECTION_COLUMNS:
        conn.execute(f"alter table ml.ml_model_runs add column if not exists {column} {kind}")
    conn.execute("""
        create table if not exists ml.training_status (
            task varchar not null primary key, status varchar not null, reason varchar, labels bigint,
            labels_needed bigint, model_version varchar, checked_at timestamp not null
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


def record_training_status(conn: duckdb.DuckDBPyConnection, task: str, status: str, facts: dict) -> None:
    """What the last build decided for ``task``'s model (trained, reused, skipped...) and why.

    Why a table: "no model trained yet" is a reading in itself; the pages say it with the numbers
    behind it ("40 reviewed labels needed, 12 present") instead of showing an empty chart, and
    the figure travels with the snapshot it describes.
    """
    ensure_tables(conn)
    conn.execute("begin transaction")
    conn.execute("delete from ml.training_status where task = ?", [task])
    conn.execute("insert into ml.training_status values (?, ?, ?, ?, ?, ?, now()::timestamp)",
                 [task, status, facts.get("reason") or facts.get("why"), facts.get("labels", facts.get("train_examples")),
                  facts.get("labels_needed"), facts.get("model_version")])
    conn.execute("commit")


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
            """insert into ml.ml_model_runs (task, model_version, base_checkpoint, path, trained_at, train_seconds,
                                             train_examples, eval_examples, accuracy, macro_f1, labels, config,
                                             is_current, chosen_candidate, selection_reason, candidates, cv_macro_f1,
                                             ece)
               values (?, ?, ?, ?, now()::timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [task, version, result.base, str(result.path), result.seconds, m.get("train_examples"),
             m.get("eval_examples"), m.get("accuracy"), m.get("macro_f1"), json.dumps(result.labels),
             json.dumps(result.config, default=float), make_current, result.config.get("chosen"),
             result.config.get("selection_reason"),
             json.dumps(m["candidates"]) if "candidates" in m else None, m.get("cv_macro_f1"), m.get("ece")])
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


def retrain_reason(conn: duckdb.DuckDBPyConnection, task: str, train_examples: int, fingerprint: str,
                   min_growth: float | None = None, max_age_days: float | None = None) -> str | None:
    """Why the task's model should be trained again now, or None to keep the current version.

    Why not retrain on every label change: a daily run brings a day of new reviews, a fraction of
    a percent of the labels, and retraining every model for it would make each daily run cost as
    much as the first. A new version is trained when there is none, when the agreed labels grew
    by ``min_growth`` (SI_RETRAIN_MIN_GROWTH, default 5%) or shrank, or when they changed and the
    current version is older than ``max_age_days`` (SI_RETRAIN_MAX_AGE_DAYS, default 7), so
    corrections still arrive within a week. SI_RETRAIN_MIN_GROWTH=0 retrains on any change.
    """
    if min_growth is None:
        min_growth = _env_number("SI_RETRAIN_MIN_GROWTH", 0.05)
    if max_age_days is None:
        max_age_days = _env_number("SI_RETRAIN_MAX_AGE_DAYS", 7)
    ensure_tables(conn)
    row = conn.execute("""select config ->> 'label_fingerprint', coalesce(try_cast(config ->> 'label_count' as bigint),
                                                                           train_examples),
                                 date_diff('second', trained_at, now()::timestamp) / 86400.0
                          from ml.ml_model_runs where task = ? and is_current""", [task]).fetchall()
    if not row:
        return "no model yet"
    last_fingerprint, last_count, age_days = row[0]
    if last_fingerprint == fingerprint:
        return None
    if last_count is None or last_count <= 0:
        return "labels changed and the current version has no label count"
    if train_examples < last_count:
        return "labels were removed"
    growth = train_examples / last_count - 1
    if growth >= min_growth:
        return f"labels grew {growth:.1%} (retrain at {min_growth:.0%})"
    if age_days is not None and age_days >= max_age_days:
        return f"labels changed and the model is {age_days:.1f} days old (retrain at {max_age_days:g})"
    return None


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as exc:  # a clear message beats a failed asset with a bare traceback
        raise ValueError(f"environment variable {name}={raw!r} must be a number") from exc
