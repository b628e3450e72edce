"""Which team should own a contact, read from what the customer wrote: out-of-fold suggestions.

Why a learnt classifier and not only the routing seed: the seed maps an intent to a team, so
an automatic route is only as good as the intent of record, and on a young warehouse the
intent model is trained on a few hundred reviewed contacts. Every handled contact, though,
carries a team label for free: the team that finally handled it (after any transfer). That
label is a little noisy (a misrouted contact nobody transferred keeps the wrong team), but it
is plentiful, so the project's text trainer (``ml.text_models``: by default its character n-gram
TF-IDF + linear SVM candidate, which works for Chinese and alphabetic languages alike, typos
included; more candidates at the cost of embedding every contact) learns the routing from history.

Each contact's suggestion comes from a model that never saw that contact (k-fold,
out-of-fold), so the routing-quality figures are honest held-out figures. Contacts beyond
``max_training`` (newest first are kept for training) are scored by one model fitted on the
kept ones, which keeps the cost flat at a million contacts. The dbt model
``int_tickets__team_suggestions`` calls :func:`suggest_teams_reusing`: with the same contacts,
labels and code as the last build, the last build's suggestions are reused (``ml.result_cache``).
"""


import numpy as np
import pandas as pd

COLUMNS = {
    "conversation_id": "object",
    "suggested_team": "object",
    "suggestion_margin": "float64",
    "is_out_of_fold": "bool",
    "training_examples": "int64",
    "classifier": "object",
    "cv_macro_f1": "float64",
}


def _empty() -> pd.DataFrame:
    """No suggestions, with typed columns (an empty object column would land as DuckDB's NULL type)."""
    return pd.DataFrame({name: pd.Series(dtype="string" if dtype == "object" else dtype)
                         for name, dtype in COLUMNS.items()})


def _margins(probs: np.ndarray) -> np.ndarray:
    """Top probability minus the runner-up: how clearly the model prefers its team (0 = a coin toss)."""
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def suggest_teams_reusing(texts: pd.DataFrame, labels: pd.DataFrame, **options) -> pd.DataFrame:
    """:func:`suggest_teams`, reused while its inputs and the trainer's code are unchanged."""
    from ml.result_cache import cached_call, code_fingerprint

    code = code_fingerprint(["ml.ticket_routing", "ml.text_models"], ["scikit-learn", "numpy", "pandas"])
    # The frames come from a DuckDB aggregate whose row order varies between runs (threads); the key is taken
    # over one canonical order, else equal inputs never hit the cache. suggest_teams sorts what it trains on,
    # so the order it is handed changes nothing.
    texts = _canonical(texts, ["conversation_id"])
    labels = _canonical(labels, ["conversation_id"])
    return cached_call("team_suggestions", suggest_teams, code, texts, labels, **options)


def _canonical(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    present = [k for k in keys if k in frame.columns]
    return frame.sort_values(present, kind="stable").reset_index(drop=True) if present else frame


def suggest_teams(texts: pd.DataFrame, labels: pd.DataFrame, *, folds: int = 5, min_training: int = 200,
                  max_training: int = 50000, seed: int = 7,
                  candidates: tuple[str, ...] = ("char_tfidf",)) -> pd.DataFrame:
    """Out-of-fold team suggestions for every conversation in ``texts`` (conversation_id, text).

    ``labels`` holds conversation_id, team_id and started_at of handled contacts (the team that
    finally handled each one). Deterministic for a given seed, so a rebuild changes nothing.
    """
    import tempfile
    from pathlib import Path

    from ml.text_models import SelectionConfig, predict_text_model, train_best

    if texts.empty:
        return _empty()
    data = texts.merge(labels, on="conversation_id", how="left")
    labelled = data[data["team_id"].notna()].sort_values(["started_at", "conversation_id"], ascending=False)
    labelled = labelled.head(max_training)
    counts = labelled["team_id"].value_counts()
    # Teams seen fewer times than there are folds cannot be stratified; they stay out of training.
    k = int(max(2, min(folds, counts.max() if len(counts) else 0)))
    trainable = labelled[labelled["team_id"].isin(counts[counts >= k].index)]
    if len(trainable) < min_training or trainable["team_id"].nunique() < 2:
        return _empty()
    cfg = SelectionConfig(candidates=candidates, folds=k, seed=seed, max_cv_examples=max_training, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_best(trainable["text"].tolist(), trainable["team_id"].tolist(), Path(tmp) / "team", cfg)
        sel = trained.selection
        scored = ~np.isnan(sel.oof_probs).any(axis=1)
        oof = sel.oof_probs[scored]
        out = [pd.DataFrame({
            "conversation_id": trainable["conversation_id"].to_numpy()[scored],
            "suggested_team": np.array(sel.labels, dtype=object)[oof.argmax(axis=1)],
            "suggestion_margin": _margins(oof), "is_out_of_fold": True,
        })]
        rest = data[~data["conversation_id"].isin(out[0]["conversation_id"])]
        if not rest.empty:  # unlabelled, beyond max_training, or of a team too rare to stratify
            predicted, _, probs = predict_text_model(Path(tmp) / "team", rest["text"].tolist())
            out.append(pd.DataFrame({
                "conversation_id": rest["conversation_id"].to_numpy(), "suggested_team": predicted,
                "suggestion_margin": _margins(probs), "is_out_of_fold": False,
            }))
    result = pd.concat(out, ignore_index=True)
    result["suggestion_margin"] = result["suggestion_margin"].round(4)
    result["training_examples"] = len(trainable)
    result["classifier"] = sel.chosen
    result["cv_macro_f1"] = sel.candidates[sel.chosen].macro_f1
    return result.astype(COLUMNS).sort_values("conversation_id").reset_index(drop=True)
