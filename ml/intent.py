"""The intent task (scenarios 1 and 3): labels from double-blind review, a classifier, predictions.

Training data is what the warehouse already holds: the customer's first message (PII-masked in
staging) and the intent two annotators gave independently; only labels both agree on are used.
A model is retrained only when that labelled set changes. Predictions are written per
(conversation, model version), so a re-run scores only conversations the current version has not
seen, and two versions can be compared on the same conversations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from ml.registry import ensure_tables, new_version, register, retrain_reason
from ml.tasks import INTENT, relation
from ml.text_models import SelectionConfig

TASK = INTENT.name
ESCALATION_TARGET_ACCURACY = 0.9

# The SQL lives in dbt (dbt/models/intermediate/ml/): the texts scored and the agreed labels.
INPUTS = relation(INTENT.inputs)
AGREED_LABELS_SQL = f"select conversation_id, text, label from {relation(INTENT.training)} order by conversation_id"


def ensure_prediction_table(conn: duckdb.DuckDBPyConnection) -> None:
    ensure_tables(conn)
    conn.execute("""
        create table if not exists ml.intent_predictions (
            conversation_id varchar not null, model_version varchar not null, intent varchar not null,
            confidence double not null, escalate boolean not null, scored_at timestamp not null,
            text_sha varchar, primary key (conversation_id, model_version)
        )""")


@dataclass
class LabelledSplit:
    train_texts: list[str]
    train_labels: list[str]
    eval_texts: list[str]
    eval_labels: list[str]
    fingerprint: str


def labelled_split(conn: duckdb.DuckDBPyConnection) -> LabelledSplit:
    """Agreed labels split 80/20 by a hash of the conversation id (stable across runs)."""
    rows = conn.execute(AGREED_LABELS_SQL).fetchall()
    digest = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()[:16]
    split = LabelledSplit([], [], [], [], digest)
    for conversation_id, text, intent in rows:
        bucket = int(hashlib.md5(conversation_id.encode()).hexdigest(), 16) % 5
        if bucket == 0:
            split.eval_texts.append(text)
            split.eval_labels.append(intent)
        else:
            split.train_texts.append(text)
            split.train_labels.append(intent)
    return split


ALWAYS_ESCALATE = 2.0  # above any probability: nothing is confident enough
UNCALIBRATED_THRESHOLD = 0.5  # for a model registered without held-out labels (e.g. from the CLI)
MIN_CONFIDENT_SUPPORT = 10


def escalation_threshold(confidence: np.ndarray, correct: np.ndarray, target: float = ESCALATION_TARGET_ACCURACY,
                         min_support: int = MIN_CONFIDENT_SUPPORT) -> float:
    """Lowest confidence at or above which predictions are right at least ``target`` of the time.

    Below it the answer hub hands the contact to a person. Calibrated on held-out labels, cutting
    only between distinct confidence values (ties fall on one side together) and only where at
    least ``min_support`` held-out predictions would be handled automatically;
    ``ALWAYS_ESCALATE`` when no cut reaches the target.
    """
    best = ALWAYS_ESCALATE
    for cut in np.unique(confidence)[::-1]:
        accepted = confidence >= cut
        if accepted.sum() >= min_support and correct[accepted].mean() >= target:
            best = float(cut)
    return best


def train_if_labels_changed(conn_factory, model_root: Path, cfg: SelectionConfig = SelectionConfig()
                            ) -> tuple[str, dict]:
    """Train and register a new version when the agreed labels changed; returns (status, facts).

    The model is whichever candidate of ``ml.text_models`` cross-validates best on the training
    split; the escalation threshold comes from its out-of-fold confidences, and the 20% held-out
    split reports accuracy and calibration.
    """
    from ml.text_models import train_for_task

    with conn_factory() as conn:
        ensure_prediction_table(conn)
        split = labelled_split(conn)
        last = conn.execute(
            "select model_version, config ->> 'label_fingerprint', config ->> 'trained_by' from ml.ml_model_runs "
            "where task = ? and is_current", [TASK]).fetchall()
        last = last[0] if last else None
    n = len(split.train_texts)
    if last and last[2] == "user" and (model_root / TASK / last[0]).exists():
        # A model a user trained on their own labels (service-insight train) stays in use.
        return "user model in use", {"model_version": last[0]}
    if n < cfg.min_examples or len(set(split.train_labels)) < 2:
        return "skipped", {"reason": f"only {n} agreed training labels (need {cfg.min_examples} over 2+ intents)",
                           "labels": n, "labels_needed": cfg.min_examples}
    reason = "no model yet"
    if last and (model_root / TASK / last[0]).exists():
        with conn_factory() as conn:
            reason = retrain_reason(conn, TASK, n, split.fingerprint)
        if reason is None:
            return "reused", {"model_version": last[0], "train_examples": n}
    version = new_version(TASK)
    result = train_for_task(split.train_texts, split.train_labels, model_root / TASK / version,
                            split.eval_texts, split.eval_labels, cfg=cfg)
    threshold = result.metrics["escalate_below"]
    result.config.update(label_fingerprint=split.fingerprint, label_count=n, trained_by="pipeline")
    from ml.classifier import write_training_card

    write_training_card(result)
    with conn_factory() as conn:
        register(conn, TASK, version, result)
    return "trained", {"model_version": version, "why": reason, "train_examples": n, "eval_examples": len(split.eval_texts),
                       "chosen": result.config["chosen"], "cv_macro_f1": result.metrics.get("cv_macro_f1"),
                       "accuracy": result.metrics.get("accuracy"), "macro_f1": result.metrics.get("macro_f1"),
                       "ece": result.metrics.get("ece"), "escalate_below": threshold, "seconds": result.seconds}


def score_new_conversations(conn_factory, model_root: Path, device: str = "auto") -> dict:
    """Predict the intent of every conversation the current version has not scored on its current text."""
    with conn_factory() as conn:
        ensure_prediction_table(conn)
        current = conn.execute(
            "select model_version, config ->> 'escalate_below' from ml.ml_model_runs where task = ? and is_current",
            [TASK]).fetchall()
        current = current[0] if current else None  # fetchall: DuckDB 2 keeps a half-read result open
        if current is None or not (model_root / TASK / current[0]).exists():
            return {"scored": 0, "reason": "no intent model yet"}
        version = current[0]
        threshold = float(current[1]) if current[1] is not None else UNCALIBRATED_THRESHOLD
        # New conversations, and ones whose first message changed since they were scored (a
        # corrected landing file): the hash of the scored text tells.
        todo = conn.execute(f"""
            select first_message.conversation_id, first_message.text
            from {INPUTS} as first_message
            left join ml.intent_predictions as p
                on p.conversation_id = first_message.conversation_id and p.model_version = ?
            where p.conversation_id is null or p.text_sha is distinct from sha256(first_message.text)
            order by first_message.conversation_id""", [version]).fetchall()
    if not todo:
        return {"scored": 0, "model_version": version}
    from ml.executor import predict_texts
    from service_insight.settings import get_settings

    labels, confidence, _ = predict_texts(model_root / TASK / version, [t for _, t in todo], device,
                                          get_settings().executor)
    import pyarrow as pa

    table = pa.table({
        "conversation_id": [c for c, _ in todo], "model_version": [version] * len(todo), "intent": labels,
        "confidence": confidence.astype(float), "escalate": (confidence < threshold).tolist(),
        "text": [t for _, t in todo],
    })
    with conn_factory() as conn:
        conn.register("_new_predictions", table)
        conn.execute("begin transaction")
        conn.execute("""
            delete from ml.intent_predictions
            where model_version = ? and conversation_id in (select conversation_id from _new_predictions)""",
                     [version])
        conn.execute("""
            insert into ml.intent_predictions
            select conversation_id, model_version, intent, confidence, escalate, now()::timestamp, sha256(text)
            from _new_predictions""")
        conn.execute("commit")
        conn.unregister("_new_predictions")
    return {"scored": len(todo), "model_version": version, "escalated": int((confidence < threshold).sum())}
