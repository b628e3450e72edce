"""The shared text-classification routine: real training, real predictions, user checkpoints."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.classifier import TrainConfig, build_tokenizer, new_small_bert, predict, train_text_classifier
from tests.conftest import point_settings_at
from tests.ml_views import connector, create_ml_input_views
from sample_data.core import GeneratorConfig
from sample_data.writer import generate


@pytest.fixture(scope="module")
def intent_examples(tmp_path_factory):
    """First customer message of generated conversations, with the intent the generator planted."""
    root = tmp_path_factory.mktemp("ml_data")
    generate(GeneratorConfig(conversations=2600, days=30, seed=21, bad_row_rate=0), root / "landing", root / "truth",
             progress=False)
    turns = duckdb.sql(f"select * from read_csv('{root}/landing/turns/*.csv', all_varchar=true)").df()
    truth = pd.read_parquet(root / "truth" / "truth_conversations.parquet")
    first = (turns[turns["speaker"] == "customer"].groupby("conversation_id").first().reset_index()
             .merge(truth, on="conversation_id").sample(frac=1, random_state=3))
    cut = int(len(first) * 0.8)
    return first.iloc[:cut], first.iloc[cut:]


@pytest.fixture(scope="module")
def intent_model(intent_examples, tmp_path_factory):
    train, holdout = intent_examples
    out = tmp_path_factory.mktemp("models") / "intent"
    return train_text_classifier(train["text"].tolist(), train["intent"].tolist(), out,
                                 holdout["text"].tolist(), holdout["intent"].tolist(), cfg=TrainConfig(epochs=6))


def test_small_bert_learns_thirty_intents_across_languages(intent_model, intent_examples):
    _, holdout = intent_examples
    assert intent_model.metrics["labels"] == 30
    assert intent_model.metrics["accuracy"] >= 0.6  # chance is 1/30
    predicted, confidence, probs = predict(intent_model.path, holdout["text"].tolist())
    right = pd.Series(predicted, index=holdout.index) == holdout["intent"]
    assert right[holdout["language"] == "zh"].mean() >= 0.6
    assert right[holdout["language"] == "en"].mean() >= 0.6
    assert confidence[right.values].mean() > confidence[~right.values].mean()  # confidence means something
    assert probs.shape == (len(holdout), 30)


def test_evaluation_reports_per_class_and_confusion(intent_model):
    m = intent_model.metrics
    assert len(m["per_class"]) == 30 and {"precision", "recall", "f1", "support"} <= set(m["per_class"][0])
    matrix = m["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == m["eval_examples"]
    assert (intent_model.path / "config.json").exists() and (intent_model.path / "tokenizer.json").exists()


def test_chinese_is_not_unknown_to_the_learnt_vocabulary(intent_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(intent_model.path))
    ids = tok("我的订单怎么还没到？请帮我查一下物流")["input_ids"]
    assert tok.unk_token_id not in ids


def test_predictions_keep_input_order_despite_length_batching(intent_model, intent_examples):
    texts = intent_examples[1]["text"].tolist()[:40]
    together, _, _ = predict(intent_model.path, texts, batch_size=8)
    alone = [predict(intent_model.path, [t])[0][0] for t in texts]
    assert together == alone
    # Repeated texts are read once and every row gets its own text's reading back, in place.
    repeated = texts[:10] + texts[::-1] + [None, ""]
    labels, confidence, probs = predict(intent_model.path, repeated, batch_size=8)
    assert labels[:len(texts) + 10] == alone[:10] + alone[::-1] and probs.shape[0] == len(repeated)
    assert confidence[0] == confidence[len(repeated) - 3] and labels[-2] == labels[-1]  # None reads as ""


def _two_class_data():
    refund = ["I want my money back for order {}", "please refund order {} now", "退款什么时候到账 {}",
              "where is the refund for {}", "我要退款，订单{}"]
    password = ["I forgot my password {}", "reset my password please {}", "密码忘了怎么办 {}",
                "cannot log in, password wrong {}", "登录密码重置 {}"]
    texts, labels = [], []
    for i in range(40):
        for template, label in ((refund[i % 5], "refund"), (password[i % 5], "password")):
            texts.append(template.format(1000 + i))
            labels.append(label)
    return texts, labels


def _user_checkpoint(path: Path, texts: list[str], hidden_size: int, head_labels: list[str]) -> Path:
    """A user's own small encoder (random init, with its tokenizer) saved as a checkpoint folder."""
    tokenizer = build_tokenizer(texts, vocab_size=500)
    cfg = TrainConfig(hidden_size=hidden_size, layers=1, heads=2)
    new_small_bert(tokenizer, head_labels, cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_user_checkpoint_path_is_fine_tuned(tmp_path):
    texts, labels = _two_class_data()
    user_ckpt = _user_checkpoint(tmp_path / "my-bert", texts, 64, ["a", "b", "c"])  # a 3-label head on purpose
    result = train_text_classifier(texts[:60], labels[:60], tmp_path / "tuned", texts[60:], labels[60:],
                                   base=str(user_ckpt), cfg=TrainConfig(epochs=40, base_learning_rate=1e-3))
    assert result.base == str(user_ckpt)
    assert result.metrics["accuracy"] >= 0.9
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(str(tmp_path / "tuned")).hidden_size == 64  # the user's architecture


def test_linear_probe_head_starts_fine_tuning_from_the_frozen_baseline(tmp_path):
    """LP-FT: with no fine-tuning step at all, the head copied from the probe already classifies."""
    texts, labels = _two_class_data()
    user_ckpt = _user_checkpoint(tmp_path / "encoder", texts, 64, ["x"])
    probe_only = TrainConfig(epochs=1, base_learning_rate=1e-12, pooling="mean_normalized",
                             head_init="linear_probe", probe_c=100.0, device="cpu")
    result = train_text_classifier(texts[:60], labels[:60], tmp_path / "lp", texts[60:], labels[60:],
                                   base=str(user_ckpt), cfg=probe_only)
    assert result.metrics["probe_train_accuracy"] >= 0.95
    assert result.metrics["accuracy"] >= 0.9  # the random-init encoder's features are separable; the head uses them
    from transformers import AutoConfig

    saved = AutoConfig.from_pretrained(str(tmp_path / "lp"))
    assert saved.model_type == "si-bert-mean-pool" and saved.si_normalize_pooled is True


def test_linear_probe_needs_mean_pooling(tmp_path):
    texts, labels = _two_class_data()
    user_ckpt = _user_checkpoint(tmp_path / "encoder", texts, 32, ["x"])
    with pytest.raises(ValueError, match="mean"):
        train_text_classifier(texts, labels, tmp_path / "lp", base=str(user_ckpt),
                              cfg=TrainConfig(epochs=1, head_init="linear_probe", device="cpu"))


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_cli_trains_registers_and_predicts(tmp_path, capsys):
    from service_insight.cli import main

    point_settings_at(tmp_path)
    texts, labels = _two_class_data()
    train = _write(tmp_path / "train.csv", [{"text": t, "label": y} for t, y in zip(texts[:60], labels[:60])]
                   + [{"text": "", "label": "refund"}])
    evaluation = _write(tmp_path / "eval.csv", [{"text": t, "label": y} for t, y in zip(texts[60:], labels[60:])])
    assert main(["train", "intent", "--train", str(train), "--eval", str(evaluation)]) == 0
    out = capsys.readouterr().out
    assert "1 row(s) skipped" in out and "accuracy" in out
    assert main(["train", "intent", "--train", str(train)]) == 0
    with duckdb.connect(str(tmp_path / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        runs = c.execute("select model_version, is_current, accuracy from ml.ml_model_runs order by trained_at").fetchall()
        assert len(runs) == 2 and [r[1] for r in runs] == [False, True]
        assert runs[0][2] >= 0.9
        assert c.execute("select count(*) from ml.ml_eval_per_class").fetchone()[0] == 2
    queries = _write(tmp_path / "new.csv", [{"text": "请帮我退款，订单7777"}, {"text": "I forgot my password again"}])
    assert main(["predict", "intent", "--input", str(queries), "--output", str(tmp_path / "scored.csv")]) == 0
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["label"].tolist() == ["refund", "password"]
    assert scored["line"].tolist() == [2, 3]
    assert scored["confidence"].between(0, 1).all()


def test_predict_without_a_model_says_what_to_do(tmp_path, capsys):
    from service_insight.cli import main

    point_settings_at(tmp_path)
    queries = _write(tmp_path / "q.csv", [{"text": "hello"}])
    assert main(["predict", "emotion", "--input", str(queries)]) == 2
    assert "service-insight train emotion" in capsys.readouterr().err


def test_escalation_threshold_is_the_lowest_confidence_meeting_the_target():
    import numpy as np

    from ml.intent import ALWAYS_ESCALATE, escalation_threshold

    confidence = np.array([0.99, 0.95, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    correct = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    assert escalation_threshold(confidence, correct, target=0.9, min_support=3) == 0.5
    assert escalation_threshold(confidence, correct, target=0.9, min_support=20) == ALWAYS_ESCALATE
    assert escalation_threshold(confidence, ~correct, target=0.9, min_support=1) == ALWAYS_ESCALATE


def test_labels_may_be_numbers_including_zero(tmp_path):
    from ml.labelled_data import read_labelled

    path = tmp_path / "l.jsonl"
    path.write_text('{"text": "a", "label": 0}\n{"text": 12, "label": 1}\n{"text": "", "label": 1}\n')
    data = read_labelled(path)
    assert data.labels == ["0", "1"] and data.texts == ["a", "12"] and data.rejected == [(3, "empty text")]


def _staged_warehouse(path: Path, texts: list[str], labels: list[str]) -> None:
    """The two tables the intent task reads, as dbt would have built them."""
    with duckdb.connect(str(path)) as c:
        c.execute("create schema staging")
        c.execute("create table staging.stg_raw__turns (conversation_id varchar, turn_index int, speaker varchar, "
                  "text varchar)")
        c.execute("create schema intermediate")
        c.execute("create table intermediate.int_annotations__agreed_intents (conversation_id varchar, "
                  "intent varchar, annotators int)")
        for i, (text, label) in enumerate(zip(texts, labels)):
            c.execute("insert into staging.stg_raw__turns values (?, 0, 'agent', 'hello'), (?, 1, 'customer', ?)",
                      [f"CV{i}", f"CV{i}", text])
            c.execute("insert into intermediate.int_annotations__agreed_intents values (?, ?, 2)", [f"CV{i}", label])
        create_ml_input_views(c)


def test_intent_task_retrains_only_on_new_labels_and_rescores_changed_text(tmp_path):
    from ml.intent import score_new_conversations, train_if_labels_changed

    texts, labels = _two_class_data()
    db = tmp_path / "w.duckdb"
    _staged_warehouse(db, texts, labels)

    connect = connector(db)

    models = tmp_path / "models"
    status, facts = train_if_labels_changed(connect, models)
    assert status == "trained" and facts["train_examples"] + facts["eval_examples"] == 80
    assert score_new_conversations(connect, models)["scored"] == 80
    assert train_if_labels_changed(connect, models)[0] == "reused"
    assert score_new_conversations(connect, models)["scored"] == 0
    with connect() as c:
        c.execute("update staging.stg_raw__turns set text = 'I forgot my password' where conversation_id = 'CV0' "
                  "and speaker = 'customer'")
    assert score_new_conversations(connect, models)["scored"] == 1  # the corrected message is read again
    with connect() as c:
        assert c.execute("select intent from ml.intent_predictions where conversation_id = 'CV0'").fetchone()[0] \
            == "password"
        c.execute("update ml.ml_model_runs set config = json_merge_patch(config, '{\"trained_by\": \"user\"}')")
        c.execute("update intermediate.int_annotations__agreed_intents set annotators = 3 where conversation_id = 'CV1'")
    assert train_if_labels_changed(connect, models)[0] == "user model in use"


def test_a_day_of_new_labels_does_not_retrain_but_growth_age_and_removals_do(tmp_path):
    import json as _json

    import duckdb as _duckdb

    from ml.registry import ensure_tables, retrain_reason

    conn = _duckdb.connect(str(tmp_path / "r.duckdb"))
    assert retrain_reason(conn, "intent", 1000, "f1") == "no model yet"
    ensure_tables(conn)

    def current(days_old: float) -> None:
        conn.execute("delete from ml.ml_model_runs")
        conn.execute("""insert into ml.ml_model_runs (task, model_version, path, trained_at, train_examples, config,
                        is_current) values ('intent', 'v1', '/m', now()::timestamp - to_seconds(?), 900, ?, true)""",
                     [days_old * 86400, _json.dumps({"label_fingerprint": "f1", "label_count": 1000})])

    current(1)
    assert retrain_reason(conn, "intent", 1000, "f1") is None  # nothing changed
    assert retrain_reason(conn, "intent", 1008, "f2") is None  # one more day of reviews: keep the model
    assert "grew 6.0%" in retrain_reason(conn, "intent", 1060, "f2")
    assert retrain_reason(conn, "intent", 990, "f2") == "labels were removed"
    assert retrain_reason(conn, "intent", 1008, "f2", min_growth=0) is not None  # retrain on any change
    current(8)
    assert "8.0 days old" in retrain_reason(conn, "intent", 1008, "f2")
    assert retrain_reason(conn, "intent", 1000, "f1") is None  # old but unchanged: still fine
    # A version registered before label counts were kept: any change retrains it once.
    conn.execute("update ml.ml_model_runs set config = '{\"label_fingerprint\": \"f1\"}', train_examples = null")
    assert "no label count" in retrain_reason(conn, "intent", 1008, "f2")
