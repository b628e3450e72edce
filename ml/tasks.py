"""The labelled text tasks, in one table: what each reads, what it learns from, where it writes.

Why a table: the intent, emotion and quality-act models share one shape (labels two reviewers
agreed on -> the trainer of ``ml.text_models`` -> a reading of every new record), and the
Dagster assets that train and score them are generated from these rows
(``orchestration/assets/enrichment.py``) rather than copied per task. A task's inputs and labels
are dbt intermediate models (``dbt/models/intermediate/ml/``), so the SQL that picks "the first
customer message" or "agent turns" lives once, with the rest of the SQL; ``ml/`` only selects
from them.

Adding a task of an existing unit (conversation or turn) is one row here, one input model and
one label filter; the training and scoring code is shared.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextTask:
    name: str  # registry task, model folder under SI_MODEL_DIR, Dagster assets ml/<name>_model
    unit: str  # "conversation" (key conversation_id) or "turn" (conversation_id, turn_index)
    inputs: str  # intermediate model with the texts to score: key columns + text
    training: str  # intermediate model with the training labels: key columns + text + label
    output: str  # ml.<output>: predictions per record and model version
    label_column: str  # the predicted label's column in the output
    label_kind: str | None = None  # for turn tasks: which kind of agreed turn label (emotion, act)
    speaker: str | None = None  # for turn tasks: whose turns
    scoring_asset: str = ""  # Dagster asset key name of the predictions (defaults to the output table)
    description: str = ""

    @property
    def scoring_key(self) -> str:
        return self.scoring_asset or self.output


INTENT = TextTask(
    "intent", "conversation", "int_ml__first_customer_messages", "int_ml__intent_training", "intent_predictions",
    "intent",
    description="Intent of each conversation from the customer's first message, learnt from the intents two "
                "annotators agreed on; below the calibrated confidence bar the contact is escalated.")
EMOTION = TextTask(
    "emotion", "turn", "int_ml__customer_turns", "int_ml__turn_training", "turn_emotions", "emotion",
    label_kind="emotion", speaker="customer",
    description="Emotion of every customer turn, learnt from reviewers' agreed turn labels, fused with the "
                "call's voice features where a multimodal head beats text alone on held-out phone turns.")
QUALITY_ACT = TextTask(
    "quality_act", "turn", "int_ml__agent_turns", "int_ml__turn_training", "turn_acts", "act",
    label_kind="act", speaker="agent",
    description="What each agent turn does (greeting, identity check, disclosure, empathy, hold, solution, "
                "ticket, forbidden language, confirmation, closing...), learnt from reviewers' agreed turn labels; "
                "the quality checks are rules over these readings.")

TEXT_TASKS: tuple[TextTask, ...] = (INTENT, EMOTION, QUALITY_ACT)


def relation(model: str) -> str:
    """The warehouse relation of an intermediate model (dbt writes them to the ``intermediate`` schema)."""
    return f"intermediate.{model}"


def train_task(task: TextTask, conn_factory, model_root, cfg) -> tuple[str, dict]:
    """Train the task's model when its agreed labels changed enough; returns (status, facts)."""
    if task.unit == "conversation":
        from ml.intent import train_if_labels_changed

        return train_if_labels_changed(conn_factory, model_root, cfg)
    if task.name == EMOTION.name:  # the emotion model also fits its voice head
        from ml.emotion import train_emotion_model

        return train_emotion_model(conn_factory, model_root, cfg)
    from ml.turn_tasks import train_if_labels_changed as train_turns

    return train_turns(conn_factory, model_root, task, cfg)


def score_task(task: TextTask, conn_factory, model_root, device: str = "auto") -> dict:
    """Read every new or changed record of the task with its current model version."""
    if task.unit == "conversation":
        from ml.intent import score_new_conversations

        return score_new_conversations(conn_factory, model_root, device)
    if task.name == EMOTION.name:  # phone turns go through the voice head
        from ml.emotion import score_new_customer_turns

        return score_new_customer_turns(conn_factory, model_root, device)
    from ml.turn_tasks import score_new_turns

    return score_new_turns(conn_factory, model_root, task, device)
