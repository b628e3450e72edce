"""Emotion of every customer turn (scenario 2): text model, fused with the voice reading on calls.

The text classifier learns from reviewers' agreed turn labels. On phone turns the speech engine's
prosody (energy, pitch, its spread, tempo) carries what words hide (a polite sentence said
loudly and fast), so a small multimodal head, a multinomial logistic regression over the text
model's log-probabilities and the turn's standardised voice features, re-weighs the classes.
It is fitted on the labelled phone turns of the training split and kept only when it beats
text alone on the held-out phone turns; both figures go into the model's metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np

from ml.classifier import TrainResult, predict
from ml.text_models import SelectionConfig
from ml.turn_tasks import EMOTION, TurnSplit, score_new_turns, train_if_labels_changed

VOICE_HEAD_FILE = "voice_head.json"
NEGATIVE_EMOTIONS = ("angry", "anxious")

# Per turn: energy, log pitch spread, tempo, and pitch relative to the caller's lowest turn in the
# call (voices differ; a rise against the same caller's baseline is what arousal looks like).
VOICE_FEATURES_SQL = """
    select conversation_id, turn_index,
           energy_db,
           ln(greatest(pitch_var, 1)) as log_pitch_var,
           speaking_rate_sps,
           pitch_mean_hz / nullif(min(pitch_mean_hz) over (partition by recording_id), 0) as pitch_rise
    from staging.stg_raw__voice_features
    where speaker = 'customer'
"""
VOICE_COLUMNS = ("energy_db", "log_pitch_var", "speaking_rate_sps", "pitch_rise")


def live_voice_features(turn: dict, recording_pitches: list[float]) -> dict[str, float] | None:
    """VOICE_FEATURES_SQL for one spoken turn of a live call (the virtual agent), from its prosody and the pitch
    of every customer turn of the call so far (this one included); None when a reading is missing."""
    import math

    values = [turn.get("energy_db"), turn.get("pitch_var"), turn.get("speaking_rate_sps"), turn.get("pitch_mean_hz")]
    pitches = [p for p in recording_pitches if p is not None]
    if any(v is None for v in values) or not pitches or min(pitches) == 0:
        return None
    return {"energy_db": float(values[0]), "log_pitch_var": math.log(max(float(values[1]), 1.0)),
            "speaking_rate_sps": float(values[2]), "pitch_rise": float(values[3]) / min(pitches)}


def voice_features(conn: duckdb.DuckDBPyConnection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
    """Voice feature vectors for the given (conversation, turn) keys that have a recording."""
    if not keys:
        return {}
    import pyarrow as pa

    conn.register("_voice_keys", pa.table({"conversation_id": [k[0] for k in keys],
                                          "turn_index": pa.array([k[1] for k in keys], pa.int32())}))
    try:
        rows = conn.execute(f"""
            select v.* from ({VOICE_FEATURES_SQL}) as v
            join _voice_keys using (conversation_id, turn_index)""").fetchall()
    finally:
        conn.unregister("_voice_keys")
    return {(r[0], r[1]): np.array(r[2:], dtype=np.float64) for r in rows if None not in r[2:]}


def _fusion_inputs(text_probs: np.ndarray, voice: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.hstack([np.log(np.clip(text_probs, 1e-6, 1.0)), (voice - mean) / std])


class VoiceHead:
    """The fitted multimodal head, stored as plain JSON beside the text model."""

    def __init__(self, labels: list[str], coef: np.ndarray, intercept: np.ndarray, mean: np.ndarray,
                 std: np.ndarray):
        self.labels, self.coef, self.intercept, self.mean, self.std = labels, coef, intercept, mean, std

    def fuse(self, text_probs: np.ndarray, voice: np.ndarray) -> np.ndarray:
        logits = _fusion_inputs(text_probs, voice, self.mean, self.std) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def save(self, model_dir: Path) -> None:
        (model_dir / VOICE_HEAD_FILE).write_text(json.dumps({
            "labels": self.labels, "features": list(VOICE_COLUMNS), "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(), "mean": self.mean.tolist(), "std": self.std.tolist()}))

    @classmethod
    def load(cls, model_dir: Path) -> "VoiceHead | None":
        path = model_dir / VOICE_HEAD_FILE
        if not path.exists():
            return None
        d = json.loads(path.read_text())
        return cls(d["labels"], np.array(d["coef"]), np.array(d["intercept"]), np.array(d["mean"]),
                   np.array(d["std"]))


def fit_voice_head(conn_factory: Callable, result: TrainResult, split: TurnSplit, min_turns: int = 30) -> dict:
    """Fit the head on training phone turns; keep it only if it beats text alone on held-out phone turns."""
    from sklearn.linear_model import LogisticRegression

    with conn_factory() as conn:
        train_voice = voice_features(conn, split.train_keys)
        eval_voice = voice_features(conn, split.eval_keys)
    labels = result.labels
    train_idx = [i for i, k in enumerate(split.train_keys) if k in train_voice]
    eval_idx = [i for i, k in enumerate(split.eval_keys) if k in eval_voice]
    facts = {"voice_train_turns": len(train_idx), "voice_eval_turns": len(eval_idx)}
    if len(train_idx) < min_turns or len(eval_idx) < 10 or len({split.train_labels[i] for i in train_idx}) < 2:
        facts["voice_head"] = "not fitted (too few labelled phone turns)"
        return facts
    _, _, p_train = predict(result.path, [split.train_texts[i] for i in train_idx], _loaded=None)
    _, _, p_eval = predict(result.path, [split.eval_texts[i] for i in eval_idx])
    v_train = np.vstack([train_voice[split.train_keys[i]] for i in train_idx])
    v_eval = np.vstack([eval_voice[split.eval_keys[i]] for i in eval_idx])
    mean, std = v_train.mean(axis=0), v_train.std(axis=0) + 1e-6
    y_train = [split.train_labels[i] for i in train_idx]
    clf = LogisticRegression(max_iter=2000, C=1.0)
    clf.fit(_fusion_inputs(p_train, v_train, mean, std), y_train)
    # Columns of the head follow the text model's label order; a class absent from the phone
    # turns gets a very low logit so it can still come from text on other turns.
    coef = np.zeros((len(labels), clf.coef_.shape[1]))
    intercept = np.full(len(labels), -30.0)
    classes = list(clf.classes_)
    if len(classes) == 2:  # sklearn keeps one row for two classes
        rows = {classes[1]: (clf.coef_[0], clf.intercept_[0]), classes[0]: (-clf.coef_[0], -clf.intercept_[0])}
        rows = {k: (v[0] / 2, v[1] / 2) for k, v in rows.items()}
    else:
        rows = {c: (clf.coef_[j], clf.intercept_[j]) for j, c in enumerate(classes)}
    for j, label in enumerate(labels):
        if label in rows:
            coef[j], intercept[j] = rows[label]
    head = VoiceHead(labels, coef, intercept, mean, std)
    y_eval = [split.eval_labels[i] for i in eval_idx]
    text_acc = float(np.mean([labels[int(k)] == y for k, y in zip(p_eval.argmax(axis=1), y_eval)]))
    fused_acc = float(np.mean([labels[int(k)] == y for k, y in zip(head.fuse(p_eval, v_eval).argmax(axis=1), y_eval)]))
    facts.update(voice_eval_text_accuracy=round(text_acc, 4), voice_eval_fused_accuracy=round(fused_acc, 4))
    if fused_acc >= text_acc:
        head.save(result.path)
        facts["voice_head"] = "in use"
    else:
        facts["voice_head"] = "not used (text alone was better on held-out phone turns)"
    return facts


def train_emotion_model(conn_factory: Callable, model_root: Path, cfg: SelectionConfig = SelectionConfig()
                        ) -> tuple[str, dict]:
    voice_facts: dict = {}

    def with_voice_head(result: TrainResult, split: TurnSplit) -> None:
        voice_facts.update(fit_voice_head(conn_factory, result, split))
        result.metrics.update(voice_facts)
        result.config["voice_head"] = voice_facts.get("voice_head")

    status, facts = train_if_labels_changed(conn_factory, model_root, EMOTION, cfg, after_training=with_voice_head)
    return status, {**facts, **voice_facts}


def score_new_customer_turns(conn_factory: Callable, model_root: Path, device: str = "auto") -> dict:
    """Emotion of every new customer turn; phone turns go through the voice head when one is in use."""
    fused = {"voice_fused": 0}

    def fuse_voice(todo, probs, labels):
        with conn_factory() as conn:
            current = conn.execute("select model_version from ml.ml_model_runs where task = ? and is_current",
                                   [EMOTION.name]).fetchall()
            head = VoiceHead.load(model_root / EMOTION.name / current[0][0]) if current else None
            if head is None or head.labels != labels:
                return probs
            voice = voice_features(conn, [(c, i) for c, i, _ in todo])
        rows = [n for n, (c, i, _) in enumerate(todo) if (c, i) in voice]
        if rows:
            probs = probs.copy()
            probs[rows] = head.fuse(probs[rows], np.vstack([voice[(todo[n][0], todo[n][1])] for n in rows]))
        fused["voice_fused"] = len(rows)
        return probs

    facts = score_new_turns(conn_factory, model_root, EMOTION, device, adjust=fuse_voice)
    if "reason" in facts:  # no model trained on this company's labels yet: day-one readings, marked as such
        from ml.embeddings import get_embedder
        from ml.zero_shot_turns import score_zero_shot_emotions
        from service_insight.settings import get_settings

        settings = get_settings()
        return {**facts, **score_zero_shot_emotions(conn_factory, get_embedder(settings.embedding_model, device,
                                                                                  settings.executor))}
    return {**facts, **fused}
