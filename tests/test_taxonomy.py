"""The company's intent taxonomy: reading it, day-one zero-shot intents from it, topics without it.

The zero-shot tests use the real packaged encoder on a small warehouse of hand-written first
messages in English and Chinese; nothing is trained.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from ml.taxonomy import cluster_terms, load_taxonomy, parse_taxonomy, suggest_toml, terms
from tests.ml_views import connector

TAXONOMY = """
[[intent]]
name = "card_arrival"
description = "Customer is waiting for a new bank card that has not arrived"
examples = ["Where is my new card?", "我的新卡还没有寄到"]
team = "cards"
priority = "P2"
sla_hours = 12

[[intent]]
name = "refund_request"
description = "Customer wants their money back for a purchase"
examples = ["I want a refund", "我要退款"]
team = "billing"

[[intent]]
name = "password_reset"
description = "Customer cannot log in and needs to reset the password"
examples = ["I forgot my password", "忘记密码了，登录不了"]
"""


def test_a_taxonomy_file_is_read_with_routing_and_its_problems_named_not_fatal():
    tax = parse_taxonomy(TAXONOMY + """
[[intent]]
name = "card_arrival"
description = "again"

[[intent]]
description = "no name"

[[intent]]
name = "reverted card payment?"
priority = "urgent"
sla_hours = -3
colour = "red"
""", "t.toml")
    assert tax.names == ["card_arrival", "refund_request", "password_reset", "reverted card payment?"]
    first = tax.intents[0]
    assert (first.team, first.priority, first.sla_hours) == ("cards", "P2", 12.0)
    assert first.texts()[0].startswith("Customer is waiting") and len(first.texts()) == 3
    assert tax.intents[2].team is None
    last = tax.intents[3]
    assert last.priority is None and last.sla_hours is None and last.texts() == ["reverted card payment?"]
    problems = "\n".join(tax.errors)
    for expected in ("'card_arrival': defined twice", "intent #5: 'name' must be one line",
                     "priority 'urgent' is not one of P1, P2, P3, P4", "sla_hours must be a positive number",
                     "unknown key(s) colour"):
        assert expected in problems, problems
    assert len(tax.errors) == 5


def test_an_unreadable_or_missing_taxonomy_is_empty_with_a_reason(tmp_path):
    assert load_taxonomy(tmp_path / "none.toml").intents == [] and load_taxonomy(tmp_path / "none.toml").errors == []
    bad = tmp_path / "bad.toml"
    bad.write_text("[[intent]\nname = ", encoding="utf-8")
    tax = load_taxonomy(bad)
    assert tax.intents == [] and "not valid TOML" in tax.errors[0]
    bad.write_text("intent = 3\n", encoding="utf-8")
    assert "array of tables" in load_taxonomy(bad).errors[0]


def test_terms_split_latin_words_and_chinese_character_pairs():
    assert terms("Where is my REFUND for the order?") == ["refund", "order"]
    assert terms("我要退款") == ["我要", "要退", "退款"]
    named = cluster_terms(["refund please my refund", "refund the order", "where is refund",
                           "password reset", "reset my password", "password locked"], [0, 0, 0, 1, 1, 1], top=1)
    assert named == {0: ["refund"], 1: ["password"]}


def test_a_suggested_taxonomy_is_valid_toml_with_one_intent_per_unexplained_cluster():
    clusters = [
        {"cluster_id": 0, "size": 30, "terms": ["refund", "order"], "is_candidate_new": True,
         "examples": ['I want my "money" back', "退款"]},
        {"cluster_id": 1, "size": 12, "terms": ["refund", "order"], "is_candidate_new": True, "examples": []},
        {"cluster_id": 2, "size": 50, "terms": ["card"], "is_candidate_new": False, "nearest_intent": "card_arrival",
         "examples": ["where is my card"]},
    ]
    text = suggest_toml(clusters, known=["card_arrival"])
    tax = parse_taxonomy(text)
    assert not tax.errors
    assert tax.names == ["refund_order", "refund_order_2"]
    assert tax.intents[0].examples == ('I want my "money" back', "退款")
    assert "explained by 'card_arrival'" in text


# ---- zero-shot over a real (tiny) warehouse, real encoder --------------------------------------------------

MESSAGES = {
    "card_arrival": ["My card still hasn't arrived after two weeks", "When will my new debit card be delivered?",
                     "新卡什么时候能寄到？", "I ordered a card last month and never got it"],
    "refund_request": ["Please give me my money back for this order", "I returned the item, where is my refund?",
                       "我想申请退款", "Can I get reimbursed for the faulty product?"],
    "password_reset": ["I can't log into my account, forgot my password", "How do I reset my login password?",
                       "密码忘了怎么办", "My password doesn't work anymore and I'm locked out"],
}


def _warehouse(path, reviewed: dict[str, str] | None = None):
    conn = duckdb.connect(str(path))
    conn.execute("create schema if not exists intermediate")
    conn.execute("create table intermediate.int_ml__first_customer_messages (conversation_id varchar, text varchar)")
    conn.execute("create table intermediate.int_annotations__agreed_intents (conversation_id varchar, intent varchar)")
    truth = {}
    for n, (intent, texts) in enumerate(MESSAGES.items()):
        for k, text in enumerate(texts * 2):  # 24 contacts: enough for discovery's minimum of 20
            cid = f"c{n}{k:02d}"
            truth[cid] = intent
            conn.execute("insert into intermediate.int_ml__first_customer_messages values (?, ?)", [cid, text])
    for cid, intent in (reviewed or {}).items():
        conn.execute("insert into intermediate.int_annotations__agreed_intents values (?, ?)", [cid, intent])
    conn.close()
    return truth


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    truth = _warehouse(path)
    return connector(path), truth


def test_day_one_intents_come_from_the_taxonomy_without_labels_or_knowledge_base(warehouse):
    from ml.embeddings import get_embedder
    from ml.retrieval import embed_new_contacts, score_intent_similarity, store_taxonomy

    connect, truth = warehouse
    embedder = get_embedder()
    taxonomy = parse_taxonomy(TAXONOMY)
    assert embed_new_contacts(connect, embedder) == {"embedded": 24}
    nothing = score_intent_similarity(connect, embedder, None)
    assert nothing["scored"] == 0 and "no taxonomy file and no knowledge base" in nothing["reason"]
    facts = score_intent_similarity(connect, embedder, taxonomy)
    assert facts["scored"] == 24 and facts["taxonomy_intents"] == 3 and facts["kb_intents"] == 0
    assert store_taxonomy(connect, taxonomy) == {"taxonomy_intents": 3, "taxonomy_errors": 0}
    with connect() as conn:
        got = dict(conn.execute("select conversation_id, intent from ml.intent_similarity "
                                "where method = 'zero-shot'").fetchall())
        stored = conn.execute("select intent, team_id, priority, sla_hours, examples from ml.intent_taxonomy "
                              "order by intent").fetchall()
    accuracy = sum(got[c] == y for c, y in truth.items()) / len(truth)
    assert accuracy >= 0.9, accuracy  # hand-written, unambiguous messages: a bar a keyword match would miss
    assert stored[0] == ("card_arrival", "cards", "P2", 12.0, ["Where is my new card?", "我的新卡还没有寄到"])
    store_taxonomy(connect, parse_taxonomy(""))  # the file removed: the table empties, no stale routing
    assert score_intent_similarity(connect, embedder, parse_taxonomy(""))["scored"] == 0
    with connect() as conn:
        assert conn.execute("select count(*) from ml.intent_taxonomy").fetchone()[0] == 0
        # nor stale zero-shot readings standing as the intent of record
        assert conn.execute("select count(*) from ml.intent_similarity").fetchone()[0] == 0


def test_without_any_taxonomy_contacts_fall_into_topics_named_by_their_words(warehouse):
    from ml.embeddings import get_embedder
    from ml.retrieval import discover_intents, embed_new_contacts

    connect, truth = warehouse
    embedder = get_embedder()
    embed_new_contacts(connect, embedder)
    facts = discover_intents(connect, embedder, clusters=3)
    assert facts["clusters"] == 3 and facts["known_intents"] == 0 and facts["candidate_new"] == 3
    with connect() as conn:
        rows = conn.execute("select cluster_id, terms, nearest_intent, is_candidate_new, examples "
                            "from ml.intent_clusters").fetchall()
        members = conn.execute("select conversation_id, cluster_id from ml.contact_clusters").fetchall()
    assert all(r[1] and r[2] is None and r[3] for r in rows)
    assert all(len(json.loads(r[4])) == 3 for r in rows)
    # The clusters follow the topics: most contacts share a cluster with their own topic's majority.
    by_cluster: dict[int, list[str]] = {}
    for cid, cluster in members:
        by_cluster.setdefault(cluster, []).append(truth[cid])
    purity = sum(max(v.count(t) for t in set(v)) for v in by_cluster.values()) / len(members)
    assert purity >= 0.75, (purity, by_cluster)
    draft = suggest_toml([{"cluster_id": r[0], "size": 8, "terms": r[1], "is_candidate_new": r[3],
                           "examples": json.loads(r[4])} for r in rows])
    assert len(parse_taxonomy(draft).intents) == 3
