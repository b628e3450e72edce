"""Turn-level classifiers (scenario 2 emotion, scenario 6 quality acts) on reviewers' agreed labels.

Both tasks have the same shape: a label per turn of one speaker, learnt from what two blind
reviewers agreed on (``intermediate.int_turn_labels__agreed``), retrained only when those labels
change, and applied to every new or changed turn of that speaker. They share the training and
inference routine of ``ml.classifier``; predictions are keyed by (conversation, turn, model
version), so a re-run scores only what the current version has not seen and two versions can be
compared on the same turns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from ml.classifier import TrainResult, model_labels, write_training_card
from ml.registry import ensure_tables, new_version, register, retrain_reason
from ml.tasks import EMOTION, QUALITY_ACT, TextTask, relation
from ml.text_models import SelectionConfig, train_for_task

__all__ = ["EMOTION", "QUALITY_ACT", "TurnTask"]



TurnTask = TextTask  # a row of ml.tasks with unit "turn"


def ensure_prediction_table(conn: duckdb.DuckDBPyConnection, task: TurnTask) -> None:
    ensure_tables(conn)
    conn.execute(f"""
        create table if not exists ml.{task.output} (
            conversation_id varchar not null, turn_index integer not null, model_version varchar not null,
            {task.label_column} varchar not null, confidence double not null, probabilities json,
            scored_at timestamp not null, text_sha varchar,
            primary key (conversation_id, turn_index, model_version)
        )""")


@dataclass
class TurnSplit:
    train_texts: list[str]
    train_labels: list[str]
    train_keys: list[tuple[str, int]]
    eval_texts: list[str]
    eval_labels: list[str]
    eval_keys: list[tuple[str, int]]
    fingerprint: str


def labelled_turns(conn: duckdb.DuckDBPyConnection, task: TurnTask) -> TurnSplit:
    """Agreed labels with the (masked) turn text, split 80/20 by conversation so a dialogue is never in both."""
    rows = conn.execute(f"""
        select conversation_id, turn_index, text, label
        from {relation(task.training)}
        where label_kind = ? and speaker = ?
        order by conversation_id, turn_index""", [task.label_kind, task.speaker]).fetchall()
    digest = hashlib.sha256(json.dumps(rows, ensure_ascii=False, default=str).encode()).hexdigest()[:16]
    split = TurnSplit([], [], [], [], [], [], digest)
    for conversation_id, turn_index, text, label in rows:
        held_out = int(hashlib.md5(conversation_id.encode()).hexdigest(), 16) % 5 == 0
        texts, labels, keys = ((split.eval_texts, split.eval_labels, split.eval_keys) if held_out
                               else (split.train_texts, split.train_labels, split.train_keys))
        texts.append(text)
        labels.append(label)
        keys.append((conversation_id, turn_index))
    return split


def current_version(conn: duckdb.DuckDBPyConnection, task_name: str) -> tuple[str, dict] | None:
    row = conn.execute("select model_version, config from ml.ml_model_runs where task = ? and is_current",
                       [task_name]).fetchall()
    if not row:
        return None
    return row[0][0], json.loads(row[0][1] or "{}")


def train_if_labels_changed(conn_factory: Callable, model_root: Path, task: TurnTask,
                            cfg: SelectionConfig = SelectionConfig(),
                            after_training: Callable[[TrainResult, TurnSplit], None] | None = None,
                            ) -> tuple[str, dict]:
    """Train and register a new version when the agreed labels changed; returns (status, facts).

    The model is the best candidate of ``ml.text_models``, cross-validated with the folds grouped by
    conversation (turns of one dialogue resemble each other). ``after_training`` lets a task add to the model folder before it is registered (the emotion
    task fits its voice head there).
    """
    with conn_factory() as conn:
        ensure_prediction_table(conn, task)
        split = labelled_turns(conn, task)
        last = current_version(conn, task.name)
    n = len(split.train_texts)
    if last and last[1].get("trained_by") == "user" and (model_root / task.name / last[0]).exists():
        return "user model in use", {"model_version": last[0]}
    if n < cfg.min_examples or len(set(split.train_labels)) < 2:
        return "skipped", {"reason": f"only {n} agreed {task.label_kind} labels (need {cfg.min_examples} over 2+ labels)",
                           "labels": n, "labels_needed": cfg.min_examples}
    reason = "no model yet"
    if last and (model_root / task.name / last[0]).exists():
        with conn_factory() as conn:
            reason = retrain_reason(conn, task.name, n, split.fingerprint)
        if reason is None:
            return "reused", {"model_version": last[0], "train_examples": n}
    version = new_version(task.name)
    result = train_for_task(split.train_texts, split.train_labels, model_root / task.name / version,
                            split.eval_texts, split.eval_labels, cfg=cfg, groups=[k[0] for k in split.train_keys])
    result.config.update(label_fingerprint=split.fingerprint, label_count=n, trained_by="pipeline")
    if after_training is not None:
        after_training(result, split)
    write_training_card(result)
    with conn_factory() as conn:
        register(conn, task.name, version, result)
    return "trained", {"model_version": version, "why": reason, "train_examples": n, "eval_examples": len(split.eval_texts),
                       "chosen": result.config["chosen"], "cv_macro_f1": result.metrics.get("cv_macro_f1"),
                       "accuracy": result.metrics.get("accuracy"), "macro_f1": result.metrics.get("macro_f1"),
                       "ece": result.metrics.get("ece"), "seconds": result.seconds}


def turns_to_score(conn: duckdb.DuckDBPyConnection, task: TurnTask, version: str) -> list[tuple[str, int, str]]:
    """Turns of the task's speaker the version has not scored, or whose text changed since."""
    return conn.execute(f"""
        select t.conversation_id, t.turn_index, t.text
        from {relation(task.inputs)} as t
        left join ml.{task.output} as p
            on p.conversation_id = t.conversation_id and p.turn_index = t.turn_index and p.model_version = ?
        where p.conversation_id is null or p.text_sha is distinct from sha256(t.text)
        order by t.conversation_id, t.turn_index""", [version]).fetchall()


def write_predictions(conn: duckdb.DuckDBPyConnection, task: TurnTask, version: str,
                      todo: list[tuple[str, int, str]], labels: list[str], confidence: np.ndarray,
                      probabilities: list[str]) -> None:
    """Replace this version's rows for these turns in one transaction (bulk, via Arrow)."""
    table = pa.table({
        "conversation_id": [c for c, _, _ in todo], "turn_index": pa.array([i for _, i, _ in todo], pa.int32()),
        "label": labels, "confidence": confidence.astype(float), "probabilities": probabilities,
        "text": [t for _, _, t in todo],
    })
    conn.register("_new_turn_predictions", table)
    try:
        conn.execute("begin transaction")
        conn.execute(f"""
            delete from ml.{task.output} as p
            where model_version = ? and exists (
                select 1 from _new_turn_predictions as n
                where n.conversation_id = p.conversation_id and n.turn_index = p.turn_index)""", [version])
        conn.execute(f"""
            insert into ml.{task.output}
            select conversation_id, turn_index, ?, label, confidence, probabilities::json, now()::timestamp,
                   sha256(text)
            from _new_turn_predictions""", [version])
        conn.execute("commit")
    finally:
        conn.unregister("_new_turn_predictions")


def probabilities_json(labels: list[str], probs: np.ndarray) -> list[str]:
    return [json.dumps({label: round(float(p), 4) for label, p in zip(labels, row)}) for row in probs]


def score_new_turns(conn_factory: Callable, model_root: Path, task: TurnTask, device: str = "auto",
                    adjust: Callable[[list[tuple[str, int, str]], np.ndarray, list[str]], np.ndarray] | None = None,
                    ) -> dict:
    """Label every new or changed turn of the task's speaker with the current version.

    ``adjust`` may revise the class probabilities before the label is chosen (the emotion task
    fuses the voice reading of phone turns there).
    """
    with conn_factory() as conn:
        ensure_prediction_table(conn, task)
        current = current_version(conn, task.name)
        if current is None or not (model_root / task.name / current[0]).exists():
            return {"scored": 0, "reason": f"no {task.name} model yet"}
        version = current[0]
        todo = turns_to_score(conn, task, version)
    if not todo:
        return {"scored": 0, "model_version": version}
    model_dir = model_root / task.name / version
    from ml.executor import predict_texts
    from service_insight.settings import get_settings

    _, _, probs = predict_texts(model_dir, [t for _, _, t in todo], device, get_settings().executor)
    labels = model_labels(model_dir)  # any model folder: its own column order
    facts: dict = {}
    if adjust is not None:
        probs = adjust(todo, probs, labels)
    from ml.executor import choose

    predicted = [labels[int(i)] for i in choose(probs)]
    confidence = probs.max(axis=1)
    with conn_factory() as conn:
        write_predictions(conn, task, version, todo, predicted, confidence, probabilities_json(labels, probs))
    return {"scored": len(todo), "model_version": version, **facts}
