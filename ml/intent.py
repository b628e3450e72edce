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

from ml.classifier import TrainConfig, TrainResult, predict, train_text_classifier
from ml.registry import current_model_dir, ensure_tables, new_version, register

TASK = "intent"
MIN_EXAMPLES = 40
ESCALATION_TARGET_ACCURACY = 0.9

FIRST_CUSTOMER_MESSAGE_SQL = """
    select conversation_id, text
    from staging.stg_raw__turns
    where speaker = 'customer'
    qualify row_number() over (partition by conversation_id order by turn_index) = 1
"""

AGREED_LABELS_SQL = f"""
    with first_message as ({FIRST_CUSTOMER_MESSAGE_SQL}),
    agreed as (
        select conversation_id, min(intent) as intent
        from staging.stg_raw__annotations
        where intent is not null
        group by conversation_id
        having count(distinct annotator) >= 2 and count(distinct intent) = 1
    )
    select first_message.conversation_id, first_message.text, agreed.intent
    from agreed join first_message using (conversation_id)
    order by conversation_id
"""


def ensure_prediction_table(conn: duckdb.DuckDBPyConnection) -> None:
    ensure_tables(conn)
    conn.execute("""
        create table if not exists ml.intent_predictions (
            conversation_id varchar not null, model_version varchar not null, intent varchar not null,
            confidence double not null, escalate boolean not null, scored_at timestamp not null,
            primary key (conversation_id, model_version)
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


def escalation_threshold(confidence: np.ndarray, correct: np.ndarray, target: float = ESCALATION_TARGET_ACCURACY
                         ) -> float:
    """Lowest confidence above which predictions are right at least ``target`` of the time.

    Below it the answer hub hands the contact to a person. Calibrated on held-out labels; 1.0
    (always escalate) when no threshold reaches the target.
    """
    order = np.argsort(-confidence)
    hits = np.cumsum(correct[order])
    precision = hits / np.arange(1, len(order) + 1)
    ok = np.where(precision >= target)[0]
    return float(confidence[order][ok[-1]]) if len(ok) else 1.0


def train_if_labels_changed(conn_factory, model_root: Path, cfg: TrainConfig = TrainConfig()
                            ) -> tuple[str, dict]:
    """Train and register a new version when the agreed labels changed; returns (status, facts)."""
    with conn_factory() as conn:
        ensure_prediction_table(conn)
        split = labelled_split(conn)
        last = conn.execute(
            "select model_version, config ->> 'label_fingerprint' from ml.ml_model_runs "
            "where task = ? and is_current", [TASK]).fetchone()
    n = len(split.train_texts)
    if n < MIN_EXAMPLES or len(set(split.train_labels)) < 2:
        return "skipped", {"reason": f"only {n} agreed training labels (need {MIN_EXAMPLES} over 2+ intents)"}
    if last and last[1] == split.fingerprint and current_model_dir(model_root, TASK) is not None:
        return "reused", {"model_version": last[0], "train_examples": n}
    version = new_version(TASK)
    result: TrainResult = train_text_classifier(split.train_texts, split.train_labels, model_root / TASK / version,
                                                split.eval_texts, split.eval_labels, cfg=cfg)
    threshold = 1.0
    if split.eval_texts:
        predicted, confidence, _ = predict(result.path, split.eval_texts)
        correct = np.array([p == y for p, y in zip(predicted, split.eval_labels)])
        threshold = escalation_threshold(confidence, correct)
    result.metrics["escalate_below"] = threshold
    result.config["label_fingerprint"] = split.fingerprint
    result.config["escalate_below"] = threshold
    with conn_factory() as conn:
        register(conn, TASK, version, result)
    return "trained", {"model_version": version, "train_examples": n, "eval_examples": len(split.eval_texts),
                       "accuracy": result.metrics.get("accuracy"), "macro_f1": result.metrics.get("macro_f1"),
                       "escalate_below": threshold, "seconds": result.seconds}


def score_new_conversations(conn_factory, model_root: Path, device: str = "auto") -> dict:
    """Predict the intent of every conversation the current version has not scored yet."""
    with conn_factory() as conn:
        ensure_prediction_table(conn)
        current = conn.execute(
            "select model_version, config ->> 'escalate_below' from ml.ml_model_runs where task = ? and is_current",
            [TASK]).fetchone()
        if current is None or current_model_dir(model_root, TASK) is None:
            return {"scored": 0, "reason": "no intent model yet"}
        version, threshold = current[0], float(current[1] or 1.0)
        todo = conn.execute(f"""
            with first_message as ({FIRST_CUSTOMER_MESSAGE_SQL})
            select conversation_id, text from first_message
            where conversation_id not in (
                select conversation_id from ml.intent_predictions where model_version = ?)
            order by conversation_id""", [version]).fetchall()
    if not todo:
        return {"scored": 0, "model_version": version}
    labels, confidence, _ = predict(model_root / TASK / version, [t for _, t in todo], device=device)
    import pyarrow as pa

    table = pa.table({
        "conversation_id": [c for c, _ in todo], "model_version": [version] * len(todo), "intent": labels,
        "confidence": confidence.astype(float), "escalate": (confidence < threshold).tolist(),
    })
    with conn_factory() as conn:
        conn.register("_new_predictions", table)
        conn.execute("""
            insert or ignore into ml.intent_predictions
            select conversation_id, model_version, intent, confidence, escalate, now()::timestamp
            from _new_predictions""")
        conn.unregister("_new_predictions")
    return {"scored": len(todo), "model_version": version, "escalated": int((confidence < threshold).sum())}
