"""Emotion, quality inspection, alerts and retrieval: real models on the session build, checked against ground truth."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.ml_views import connector, create_ml_input_views

pytestmark = pytest.mark.slow


def _warehouse(built):
    return duckdb.connect(str(built.settings.warehouse_path), read_only=True)


def _truth(built, name: str) -> pd.DataFrame:
    return pd.read_parquet(built.settings.ground_truth_dir / f"{name}.parquet")


def test_every_customer_turn_gets_an_emotion_that_mostly_matches_the_truth(use_built):
    with _warehouse(use_built) as c:
        turns = c.execute("select conversation_id, turn_index, speaker, emotion, emotion_confidence "
                          "from marts.fct_turn_readings").df()
    customer = turns[turns["speaker"] == "customer"]
    assert customer["emotion"].notna().all()
    assert turns.loc[turns["speaker"] != "customer", "emotion"].isna().all()
    merged = customer.merge(_truth(use_built, "truth_turns"), on=["conversation_id", "turn_index"],
                            suffixes=("", "_truth"))
    accuracy = (merged["emotion"] == merged["emotion_truth"]).mean()
    assert accuracy >= 0.7, accuracy  # five classes; the majority class is about a third of turns
    negative = merged["emotion_truth"].isin(["angry", "anxious"])
    assert merged.loc[negative, "emotion"].isin(["angry", "anxious"]).mean() >= 0.7


def test_emotion_model_reports_text_and_voice_fused_accuracy_on_held_out_calls(use_built):
    with _warehouse(use_built) as c:
        runs = c.execute("select config from ml.ml_model_runs where task = 'emotion' and is_current").fetchall()
        fused = c.execute("select count(*) from ml.turn_emotions").fetchall()[0][0]
    assert len(runs) == 1 and fused > 0
    config = json.loads(runs[0][0])
    assert config["voice_head"] in ("in use", "not used (text alone was better on held-out phone turns)")


def test_agent_acts_match_what_the_agent_did(use_built):
    with _warehouse(use_built) as c:
        acts = c.execute("select conversation_id, turn_index, act from marts.fct_turn_readings where speaker = 'agent'").df()
    merged = acts.merge(_truth(use_built, "truth_turns"), on=["conversation_id", "turn_index"],
                        suffixes=("", "_truth"))
    assert merged["act"].notna().all()
    assert (merged["act"] == merged["act_truth"]).mean() >= 0.85


def test_every_handled_conversation_is_inspected_on_twelve_dimensions_with_evidence(use_built):
    with _warehouse(use_built) as c:
        checks = c.execute("select * from marts.fct_qa_checks").df()
        handled = c.execute("select count(*) from marts.fct_conversations where not is_abandoned "
                            "and turn_count > 0").fetchall()[0][0]
        turn_counts = dict(c.execute("select conversation_id, count(*) from marts.fct_turns group by 1").fetchall())
        cards = c.execute("select * from marts.fct_qa_scorecards").df()
    assert checks.groupby("conversation_id").size().eq(12).all()
    assert checks["conversation_id"].nunique() >= 0.99 * handled
    applicable = checks[checks["applicable"]]
    # A failure points at a turn (all but a call put on hold with no hold words at all, where the
    # moment is unknown: 0.5% of failures); so does a pass, except "no forbidden language".
    assert applicable.loc[applicable["failed"], "evidence_turn_index"].notna().mean() >= 0.98
    shown = applicable[applicable["passed"] & (applicable["dimension"] != "forbidden_language")]
    assert shown["evidence_turn_index"].notna().mean() >= 0.99
    inside = applicable.dropna(subset=["evidence_turn_index"])
    assert (inside["evidence_turn_index"] < inside["conversation_id"].map(turn_counts)).all()
    assert cards["quality_score"].between(0, 100).all() and len(cards) == checks["conversation_id"].nunique()


@pytest.mark.parametrize("dimension", [
    "greeting", "identity_check", "disclosure", "forbidden_language", "solution_offered",
    "resolution_confirmed", "closing", "response_time", "correct_information", "hold_etiquette",
    "empathy", "emotion_handling",
])
def test_quality_failures_agree_with_the_truth(use_built, dimension):
    """Every dimension finds most real failures and most of what it flags is real."""
    with _warehouse(use_built) as c:
        checks = c.execute("select conversation_id, applicable, failed from marts.fct_qa_checks "
                           "where dimension = ?", [dimension]).df()
    truth = _truth(use_built, "truth_qa")
    truth = truth[truth["dimension"] == dimension]
    merged = checks.merge(truth, on="conversation_id")
    flagged, real = merged["failed"].fillna(False), merged["violated"]
    recall = (flagged & real).sum() / max(1, real.sum())
    precision = (flagged & real).sum() / max(1, flagged.sum())
    assert real.sum() >= 5, "too few real failures in the sample to judge"
    # Two checks hinge on what the customer's message is about, and an intent read by a model
    # (few-shot embeddings, about 0.77 on this sample) bounds how precise they can be.
    # Holds are found from call hold time or a long chat silence, which also flags some waits that
    # were not holds (0.48 to 0.73 across builds). Empathy applies when the opening message reads
    # negative, so an emotion misreading there makes it apply wrongly (0.42 to 0.60 across builds).
    # A solution counts as offered when an agent turn reads as one; wrong-solution and no-solution contacts are
    # told apart by the act model and the KB match (0.59 to 0.65 across builds); the first reply's time shares
    # the turn alignment (0.63 measured).
    min_precision = {"identity_check": 0.35, "correct_information": 0.2, "hold_etiquette": 0.4,
                     "empathy": 0.35, "solution_offered": 0.5, "response_time": 0.5}.get(dimension, 0.6)
    assert recall >= 0.8 and precision >= min_precision, (dimension, round(recall, 3), round(precision, 3))


def test_alerts_fire_when_the_customer_turns_negative(use_built):
    with _warehouse(use_built) as c:
        alerts = c.execute("select conversation_id, alert_turn_index, escalate, recommended_action "
                           "from marts.fct_emotion_alerts").df()
    truth = _truth(use_built, "truth_turns")
    customer = truth[truth["speaker"] == "customer"].sort_values(["conversation_id", "turn_index"])
    customer = customer.assign(n=customer.groupby("conversation_id").cumcount())
    expected = customer[(customer["n"] > 0) & customer["emotion"].isin(["angry", "anxious"])] \
        .groupby("conversation_id")["turn_index"].min()
    found = alerts.set_index("conversation_id")["alert_turn_index"]
    hit = found.reindex(expected.index)
    recall = (hit == expected).mean()
    precision = found.index.isin(expected.index).mean()
    assert recall >= 0.7 and precision >= 0.8, (recall, precision)
    assert set(alerts["recommended_action"]) <= {"escalate to supervisor", "prompt agent"}
    assert alerts["escalate"].any() and not alerts["escalate"].all()


def test_answers_are_checked_against_the_knowledge_base(use_built):
    with _warehouse(use_built) as c:
        checks = c.execute("select s.conversation_id, s.matched_intent from ml.solution_checks as s").df()
    truth = _truth(use_built, "truth_conversations")[["conversation_id", "intent"]]
    qa = _truth(use_built, "truth_qa")
    wrong = set(qa[(qa["dimension"] == "correct_information") & qa["violated"]]["conversation_id"])
    merged = checks.merge(truth, on="conversation_id")
    right_answers = merged[~merged["conversation_id"].isin(wrong)]
    assert (right_answers["matched_intent"] == right_answers["intent"]).mean() >= 0.85


def test_knowledge_base_retrieval_is_cross_lingual(use_built):
    from ml.embeddings import get_embedder
    from ml.retrieval import kb_matrix

    embedder = get_embedder()
    with _warehouse(use_built) as c:
        meta, matrix = kb_matrix(c, embedder.name)
    queries = {
        "我的快递好几天都没动了，到底什么时候能到？": {"order_status", "delivery_delay"},
        "I was charged twice for the same order": {"double_charge"},
        "Olvidé mi contraseña y no puedo entrar en mi cuenta": {"password_reset", "account_locked"},
        "Je n'ai toujours pas reçu mon remboursement": {"refund_status"},
    }
    intents = sorted({m[2] for m in meta})
    scores = embedder.queries(list(queries)) @ matrix.T
    for row, wanted in zip(scores, queries.values()):
        best = {i: max(row[j] for j, m in enumerate(meta) if m[2] == i) for i in intents}  # best passage per intent
        top3 = sorted(best, key=best.get, reverse=True)[:3]
        assert wanted & set(top3), (wanted, top3)


def test_zero_and_few_shot_intent_beat_chance_and_reach_the_mart(use_built):
    with _warehouse(use_built) as c:
        rows = c.execute("select zero_shot_intent, few_shot_intent, reviewed_intent from marts.fct_conversation_intents "
                         "where reviewed_intent is not null").df()
    assert rows["zero_shot_intent"].notna().all() and rows["few_shot_intent"].notna().all()
    assert (rows["zero_shot_intent"] == rows["reviewed_intent"]).mean() >= 0.3  # 30 intents: chance 0.03
    assert (rows["few_shot_intent"] == rows["reviewed_intent"]).mean() >= 0.4


def _stage_turns(c, rows) -> None:
    """A tiny warehouse's schemas and its staged turns: rows of (conversation_id, turn_index, speaker, text)."""
    for schema in ("staging", "intermediate"):
        c.execute(f"create schema {schema}")
    c.execute("create table staging.stg_raw__turns (conversation_id varchar, turn_index integer, speaker varchar, "
              "text varchar)")
    c.executemany("insert into staging.stg_raw__turns values (?, ?, ?, ?)", rows)


def test_discovery_flags_a_topic_the_taxonomy_lacks(tmp_path):
    """Contacts about something no intent covers form a cluster flagged as a candidate new intent."""
    from ml.embeddings import get_embedder
    from ml.retrieval import discover_intents, embed_new_contacts, index_knowledge_base

    db = tmp_path / "w.duckdb"
    known = {
        "password_reset": ["I forgot my password", "can't log in, need to reset my password", "password reset link?",
                           "忘记密码了怎么办", "How do I change my password"],
        "order_status": ["where is my order", "has my parcel shipped yet", "tracking hasn't updated",
                         "我的订单到哪了", "when will my package arrive"],
        "refund_status": ["where is my refund", "refund not received yet", "how long does a refund take",
                          "退款什么时候到账", "I returned the item, when do I get my money back"],
    }
    novel = ["Can I donate my old phone to your charity recycling programme?", "do you accept used laptops for charity",
             "我想把旧手机捐给公益回收项目", "is there a charity trade-in drive for old devices",
             "how do I give my old tablet to the charity recycling scheme", "charity donation of used electronics?",
             "旧电脑可以捐赠吗", "donate used headphones to charity"]
    rows, labels, n = [], [], 0
    for intent, texts in known.items():
        for rep in range(3):
            for t in texts:
                rows.append((f"C{n:04d}", 0, "customer", t if rep == 0 else f"{t} {'please' if rep == 1 else 'thanks'}"))
                labels.append((f"C{n:04d}", intent, 2))
                n += 1
    for t in novel:
        rows.append((f"C{n:04d}", 0, "customer", t))
        n += 1
    with duckdb.connect(str(db)) as c:
        _stage_turns(c, rows)
        c.execute("create table intermediate.int_annotations__agreed_intents (conversation_id varchar, intent varchar, "
                  "annotators integer)")
        c.executemany("insert into intermediate.int_annotations__agreed_intents values (?, ?, ?)", labels)
        create_ml_input_views(c)
        c.execute("create table staging.stg_raw__kb_articles (article_id varchar, language varchar, intent varchar, "
                  "policy_id varchar, team_id varchar, title varchar, body varchar)")
        c.executemany("insert into staging.stg_raw__kb_articles values (?, 'en', ?, 'P', 'T', ?, ?)", [
            ("KB1", "password_reset", "Reset a forgotten password", "- Use the reset link on the login page."),
            ("KB2", "order_status", "Where is my order", "- Tracking updates when the parcel is scanned."),
            ("KB3", "refund_status", "When will my refund arrive", "- Refunds reach your card within 5 days."),
        ])

    connect = connector(db)
    embedder = get_embedder()
    assert index_knowledge_base(connect, embedder)["embedded"] == 6
    assert index_knowledge_base(connect, embedder)["embedded"] == 0  # nothing new: nothing re-embedded
    assert embed_new_contacts(connect, embedder)["embedded"] == len(rows)
    facts = discover_intents(connect, embedder, clusters=4)
    with connect() as c:
        flagged = c.execute("""select cc.conversation_id from ml.contact_clusters cc
                               join ml.intent_clusters ic using (model_version, cluster_id)
                               where ic.is_candidate_new""").fetchall()
    flagged = {r[0] for r in flagged}
    novel_ids = {f"C{i:04d}" for i in range(n - len(novel), n)}
    assert facts["candidate_new"] >= 1
    assert len(flagged & novel_ids) >= 0.75 * len(novel_ids) and len(flagged - novel_ids) <= 3, (flagged, novel_ids)
    assert np.isfinite(facts["novelty_bar"])


def _tiny_turn_warehouse(db, rows, labels, voice=()):
    with duckdb.connect(str(db)) as c:
        _stage_turns(c, rows)
        c.execute("create table intermediate.int_turn_labels__agreed (conversation_id varchar, turn_index integer, "
                  "label_kind varchar, label varchar, annotators integer)")
        c.executemany("insert into intermediate.int_turn_labels__agreed values (?, ?, ?, ?, 2)", labels)
        c.execute("create table staging.stg_raw__voice_features (recording_id varchar, conversation_id varchar, "
                  "turn_index integer, speaker varchar, pitch_mean_hz double, pitch_var double, energy_db double, "
                  "speaking_rate_sps double)")
        if voice:
            c.executemany("insert into staging.stg_raw__voice_features values (?, ?, ?, 'customer', ?, ?, ?, ?)",
                          voice)
        create_ml_input_views(c)
    return connector(db)


FAST = dict(candidates=("char_tfidf",))  # the cheapest candidate: these tests are about retraining and scoring


def test_turn_task_retrains_only_on_new_labels_and_rescores_changed_turns(tmp_path):
    from ml.text_models import SelectionConfig
    from ml.turn_tasks import QUALITY_ACT, score_new_turns, train_if_labels_changed

    rows, labels = [], []
    for n in range(60):
        cid = f"CV{n:03d}"
        rows += [(cid, 0, "agent", "Hello, thanks for contacting us, how can I help?" if n % 2 else "您好，请问有什么可以帮您"),
                 (cid, 1, "customer", "my order is late"),
                 (cid, 2, "agent", "Thanks for contacting us, have a great day!" if n % 2 else "感谢您的咨询，再见")]
        labels += [(cid, 0, "act", "greeting"), (cid, 2, "act", "closing"), (cid, 1, "emotion", "neutral")]
    connect = _tiny_turn_warehouse(tmp_path / "w.duckdb", rows, labels)
    models = tmp_path / "models"
    status, facts = train_if_labels_changed(connect, models, QUALITY_ACT, SelectionConfig(**FAST))
    assert status == "trained" and facts["train_examples"] + facts["eval_examples"] == 120
    assert facts["accuracy"] >= 0.9
    assert score_new_turns(connect, models, QUALITY_ACT)["scored"] == 120  # agent turns only
    assert train_if_labels_changed(connect, models, QUALITY_ACT, SelectionConfig(**FAST))[0] == "reused"
    assert score_new_turns(connect, models, QUALITY_ACT)["scored"] == 0
    with connect() as c:
        c.execute("update staging.stg_raw__turns set text = '您好，请问有什么可以帮您' "
                  "where conversation_id = 'CV001' and turn_index = 2")
    assert score_new_turns(connect, models, QUALITY_ACT)["scored"] == 1
    with connect() as c:
        act = c.execute("select act from ml.turn_acts where conversation_id = 'CV001' and turn_index = 2").fetchall()
    assert act == [("greeting",)]


def test_voice_head_reads_anger_the_words_hide(tmp_path):
    """Same polite words, said calmly or shouted: only the voice can tell, and the fused head does."""
    from ml.text_models import SelectionConfig
    from ml.emotion import VoiceHead, score_new_customer_turns, train_emotion_model

    rng = np.random.default_rng(3)
    rows, labels, voice = [], [], []
    for n in range(240):
        cid = f"CV{n:03d}"
        angry = n % 2 == 0
        rows.append((cid, 0, "customer", "ok, fine."))
        labels.append((cid, 0, "emotion", "angry" if angry else "neutral"))
        voice.append((f"R{n}", cid, 0, 180 * (1.2 if angry else 1.0), 700 if angry else 380,
                      (69 if angry else 62) + rng.normal(0, 1.5), 5.3 if angry else 4.2))
        rows.append((cid, 1, "customer", "this is outrageous, fix it now!" if angry else "thanks, that works"))
        labels.append((cid, 1, "emotion", "angry" if angry else "satisfied"))
    connect = _tiny_turn_warehouse(tmp_path / "w.duckdb", rows, labels, voice)
    models = tmp_path / "models"
    status, facts = train_emotion_model(connect, models, SelectionConfig(**FAST))
    assert status == "trained" and facts["voice_head"] == "in use", facts
    assert facts["voice_eval_fused_accuracy"] >= 0.9 > facts["voice_eval_text_accuracy"]
    assert VoiceHead.load(models / "emotion" / facts["model_version"]) is not None
    assert score_new_customer_turns(connect, models)["voice_fused"] == 240
    with connect() as c:
        read = c.execute("select conversation_id, emotion from ml.turn_emotions where turn_index = 0").fetchall()
    right = sum((e == "angry") == (int(cid[2:]) % 2 == 0) for cid, e in read)
    assert right / len(read) >= 0.9
