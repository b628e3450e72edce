"""The sample contact centre is deterministic and carries the structure later stages must find."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sample_data import phrasebank as pb
from sample_data.core import GeneratorConfig
from sample_data.writer import generate


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    summary = generate(GeneratorConfig(conversations=2500, days=40, seed=11), root / "landing", root / "truth",
                       progress=False)
    return root, summary


def test_same_seed_writes_byte_identical_files(tmp_path):
    cfg = GeneratorConfig(conversations=300, days=10, seed=3)
    generate(cfg, tmp_path / "a" / "landing", tmp_path / "a" / "truth", progress=False)
    generate(cfg, tmp_path / "b" / "landing", tmp_path / "b" / "truth", progress=False)
    assert _digest(tmp_path / "a" / "landing") == _digest(tmp_path / "b" / "landing")
    other = GeneratorConfig(conversations=300, days=10, seed=4)
    generate(other, tmp_path / "c" / "landing", tmp_path / "c" / "truth", progress=False)
    assert _digest(tmp_path / "a" / "landing") != _digest(tmp_path / "c" / "landing")


def test_writes_one_file_per_source_per_day_in_three_formats(sample):
    root, summary = sample
    landing = root / "landing"
    assert len(list((landing / "conversations").glob("*.jsonl"))) == 40
    assert len(list((landing / "turns").glob("turns_????-??-??.csv"))) == 40
    assert list((landing / "voice_features").glob("*.parquet"))
    assert list((landing / "orders").glob("*.parquet"))
    assert summary["conversations"] == 2500


def test_conversations_span_languages_intents_and_channels(sample):
    root, _ = sample
    truth = pd.read_parquet(root / "truth" / "truth_conversations.parquet")
    assert set(truth["language"]) == {"zh", "en", "es", "fr", "de"}
    assert 20 <= truth["intent"].nunique() <= 40
    assert set(truth["channel"]) == {"chat", "phone", "email"}
    assert truth["noisy_text"].mean() > 0.05  # typos and code-switching are present


def test_customer_text_is_varied_not_one_template_per_intent(sample):
    root, _ = sample
    turns = duckdb.sql(f"select * from read_csv('{root}/landing/turns/turns_*.csv', all_varchar=true, "
                       f"ignore_errors=true, union_by_name=true)").df()
    truth = pd.read_parquet(root / "truth" / "truth_conversations.parquet")
    first_customer = (turns[turns["speaker"] == "customer"].groupby("conversation_id").first().reset_index()
                      .merge(truth, on="conversation_id"))
    distinct_per_intent = first_customer.groupby("intent")["text"].nunique()
    assert distinct_per_intent.median() >= 8


def test_pii_is_planted_in_text_like_real_exports(sample):
    root, _ = sample
    pii = pd.read_parquet(root / "truth" / "truth_pii.parquet")
    assert set(pii["kind"]) >= {"name", "phone", "email", "id_card", "bank_card"}
    text = "".join((root / "landing" / "turns").joinpath(p.name).read_text(encoding="utf-8", errors="replace")
                   for p in (root / "landing" / "turns").glob("turns_????-??-??.csv"))
    assert sum(v in text for v in pii["value"].head(200)) == min(200, len(pii))


def test_volume_follows_hour_of_day_and_shopping_festival(tmp_path):
    summary = generate(GeneratorConfig(conversations=6000, days=20, end=pd.Timestamp("2026-11-20").date(), seed=5),
                       tmp_path / "landing", tmp_path / "truth", progress=False)
    truth = pd.read_parquet(tmp_path / "truth" / "truth_conversations.parquet")
    by_hour = truth["started_at"].dt.hour.value_counts()
    assert by_hour.get(10, 0) > 4 * by_hour.get(4, 0)
    per_day = truth.groupby("day").size()
    assert per_day.loc[pd.Timestamp("2026-11-11").date()] > 2 * per_day.median()


def test_baskets_carry_the_planted_co_purchases(sample):
    root, _ = sample
    rules = json.loads((root / "truth" / "planted_rules.json").read_text())
    assert rules
    orders = duckdb.sql(f"select order_id, product_id from read_parquet('{root}/landing/orders/*.parquet')").df()
    baskets = orders.groupby("order_id")["product_id"].apply(set)
    for rule in rules:
        with_a = baskets[baskets.apply(lambda b: rule["antecedent"] in b)]
        if len(with_a) < 20:
            continue
        confidence = with_a.apply(lambda b: rule["consequent"] in b).mean()
        base = baskets.apply(lambda b: rule["consequent"] in b).mean()
        assert confidence > 2 * base, rule


def test_two_annotators_mostly_agree_but_not_always(sample):
    root, _ = sample
    ann = duckdb.sql(f"select * from read_json_auto('{root}/landing/annotations/*.jsonl')").df()
    pivot = ann.pivot_table(index="conversation_id", columns="annotator", values="intent", aggfunc="first").dropna()
    agreement = (pivot["annotator_a"] == pivot["annotator_b"]).mean()
    assert 0.7 < agreement < 0.99


def test_voice_features_follow_emotion(sample):
    root, _ = sample
    voice = duckdb.sql(f"select * from read_parquet('{root}/landing/voice_features/*.parquet')").df()
    turns = pd.read_parquet(root / "truth" / "truth_turns.parquet")
    merged = voice.merge(turns, on=["conversation_id", "turn_index"])
    energy = merged.groupby("emotion")["energy_db"].mean()
    assert energy["angry"] > energy["neutral"] + 3


def test_ground_truth_has_qa_labels_on_twelve_dimensions(sample):
    root, _ = sample
    qa = pd.read_parquet(root / "truth" / "truth_qa.parquet")
    assert qa["dimension"].nunique() == 12
    violated = qa[qa["violated"]]
    assert violated["dimension"].nunique() == 12
    assert violated["evidence_turn"].notna().all()


def test_phrase_bank_covers_every_intent_in_every_language():
    for lang in pb.LANGUAGES:
        for intent in pb.INTENTS:
            assert len(pb.CUSTOMER_OPENINGS[lang][intent["name"]]) >= 4
            assert pb.AGENT_SOLUTIONS[lang][intent["name"]]
