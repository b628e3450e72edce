"""The knowledge graph (marts.kg_nodes / marts.kg_edges) and its multi-hop retrieval, on a real build.

The graph is checked against what the generator planted (its catalogue, knowledge base and
policies) and against counts recomputed here from the staged tables; retrieval runs on the
read-only published snapshot as the answer view will, and on the writer's warehouse.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import duckdb
import pytest

from ml.knowledge_graph import answer_path, neighbourhood, search_nodes
from sample_data import phrasebank as pb
from sample_data.knowledge import kb_articles, policy_of
from warehouse.snapshot import current

pytestmark = pytest.mark.slow

INTENT_BY_NAME = {i["name"]: i for i in pb.INTENTS}
HOSTILE_TEXTS = (
    "x' or '1'='1",
    "'; drop table marts.kg_nodes; --",
    "%",
    "\\' union select node_id, node_type, name, name_zh, language, mention_count from marts.kg_nodes --",
)


@pytest.fixture
def warehouse(use_built):
    conn = duckdb.connect(str(use_built.settings.warehouse_path), read_only=True)
    yield conn
    conn.close()


@pytest.fixture
def snapshot_path(use_built) -> str:
    ref = current(use_built.settings.snapshot_dir)
    assert ref is not None, "no snapshot was published"
    return str(ref.path)


@pytest.fixture
def snapshot(snapshot_path):
    """What the answer view opens: the published marts, read-only."""
    conn = duckdb.connect(snapshot_path, read_only=True)
    yield conn
    conn.close()


def _issue_counts_from_staging(conn) -> Counter:
    """(product_id, intent) -> conversations, recomputed without the graph's models."""
    conversations = conn.execute("select conversation_id, order_id from staging.stg_raw__conversations").df()
    lines = conn.execute("select order_id, line_number, product_id from staging.stg_raw__orders").df()
    predicted = conn.execute("select conversation_id, predicted_intent from marts.fct_conversation_intents").df()
    reviewed = conn.execute("select conversation_id, intent from intermediate.int_annotations__agreed_intents").df()
    lead = lines.sort_values(["order_id", "line_number"]).drop_duplicates("order_id")[["order_id", "product_id"]]
    df = (conversations.merge(lead, on="order_id", how="left")
          .merge(predicted, on="conversation_id", how="left")
          .merge(reviewed, on="conversation_id", how="left"))
    df["final_intent"] = df["predicted_intent"].where(df["predicted_intent"].notna(), df["intent"])
    df = df.dropna(subset=["product_id", "final_intent"])
    return Counter(zip(df["product_id"], df["final_intent"]))


def _busiest_pair(conn) -> tuple[str, str, int]:
    (product_id, intent), n = _issue_counts_from_staging(conn).most_common(1)[0]
    return product_id, intent, n


def test_every_catalogue_product_is_a_node_with_its_category_edge(warehouse):
    nodes = {r[0]: r[1:] for r in warehouse.execute(
        "select node_id, name, name_zh from marts.kg_nodes where node_type = 'product'").fetchall()}
    categories = dict(warehouse.execute(
        "select source_id, target_id from marts.kg_edges where relation = 'in_category'").fetchall())
    for product in pb.PRODUCTS:
        node_id = f"product:{product['product_id']}"
        assert nodes[node_id] == (product["name_en"], product["name_zh"])
        assert categories[node_id] == f"product_category:{product['category']}"
    category_nodes = {r[0] for r in warehouse.execute(
        "select node_id from marts.kg_nodes where node_type = 'product_category'").fetchall()}
    assert category_nodes == {f"product_category:{p['category']}" for p in pb.PRODUCTS}


def test_knowledge_base_links_intents_to_articles_policies_and_teams(warehouse):
    edges = set(warehouse.execute("select source_id, relation, target_id from marts.kg_edges").fetchall())
    policies = dict(warehouse.execute(
        "select node_id, name_zh from marts.kg_nodes where node_type = 'policy'").fetchall())
    for article in kb_articles():
        intent, article_node = f"intent:{article['intent']}", f"kb_article:{article['article_id']}"
        assert (intent, "resolved_by", article_node) in edges
        assert (article_node, "applies", f"policy:{policy_of(INTENT_BY_NAME[article['intent']])}") in edges
        assert (intent, "handled_by", f"team:{article['team_id']}") in edges
        if article["language"] == "zh":
            assert policies[f"policy:{article['policy_id']}"] == article["policy_name"]


def test_has_issue_weight_equals_an_independent_count_from_staging(warehouse):
    expected = _issue_counts_from_staging(warehouse)
    edges = {(s.removeprefix("product:"), t.removeprefix("intent:")): w for s, t, w in warehouse.execute(
        "select source_id, target_id, weight from marts.kg_edges where relation = 'has_issue'").fetchall()}
    product_id, intent, n = _busiest_pair(warehouse)
    assert n > 1
    assert edges[(product_id, intent)] == n
    assert edges == {k: float(v) for k, v in expected.items()}


def test_product_mention_counts_match_a_recount_of_the_turn_text(warehouse):
    texts = [t for (t,) in warehouse.execute(
        "select text from staging.stg_raw__turns where text is not null").fetchall()]
    names = [(p["product_id"], p["name_en"].lower(), False) for p in pb.PRODUCTS] + \
            [(p["product_id"], p["name_zh"], True) for p in pb.PRODUCTS]
    expected: Counter = Counter()
    for text in texts:
        lowered = text.lower()
        for pid, name, exact in names:
            haystack = text if exact else lowered
            n = haystack.count(name)
            # an occurrence inside a longer catalogue name belongs to that longer name's product
            n -= sum(haystack.count(longer) * longer.count(name) for _, longer, e in names
                     if e == exact and longer != name and name in longer)
            expected[pid] += n
    got = dict(warehouse.execute(
        "select attributes ->> 'product_id', mention_count from marts.kg_nodes where node_type = 'product'").fetchall())
    assert {pid: got[pid] for pid in expected} == dict(expected)
    assert sum(expected.values()) > 0


def test_neighbourhood_reaches_a_policy_only_through_an_intent_and_an_article(snapshot):
    product_id, intent, _ = _busiest_pair_from_marts(snapshot)
    centre = f"product:{product_id}"

    near = neighbourhood(snapshot, centre, hops=2)
    assert {n["node_type"] for n in near.nodes} >= {"product", "intent", "kb_article", "product_category"}
    assert "policy" not in {n["node_type"] for n in near.nodes}  # a policy lies three hops from a product
    assert f"intent:{intent}" in near.node_ids

    far = neighbourhood(snapshot, centre, hops=3, limit=5000)
    types = {n["node_id"]: n["node_type"] for n in far.nodes}
    policies = [n for n in far.nodes if n["node_type"] == "policy"]
    assert f"policy:{policy_of(INTENT_BY_NAME[intent])}" in {p["node_id"] for p in policies}
    for policy in policies:
        assert [types[n] for n in policy["path"]] == ["product", "intent", "kb_article", "policy"]
        assert policy["relations"] == ["has_issue", "resolved_by", "applies"]
    for node in far.nodes:
        assert node["path"][0] == centre and node["path"][-1] == node["node_id"]
        assert len(set(node["path"])) == len(node["path"]) == node["depth"] + 1  # no cycles
    edges = set(snapshot.execute("select source_id, relation, target_id from marts.kg_edges").fetchall())
    walked = {(e["source_id"], e["relation"], e["target_id"]) for e in far.edges}
    assert walked and walked <= edges
    assert all({e["source_id"], e["target_id"]} <= far.node_ids for e in far.edges)

    only_catalogue = neighbourhood(snapshot, centre, hops=2, relations=["in_category"])
    assert {n["node_type"] for n in only_catalogue.nodes} == {"product", "product_category"}


def _busiest_pair_from_marts(conn) -> tuple[str, str, int]:
    """The snapshot holds marts only: the strongest has_issue edge."""
    source, target, weight = conn.execute("""
        select source_id, target_id, weight from marts.kg_edges
        where relation = 'has_issue' order by weight desc, source_id, target_id limit 1""").fetchone()
    return source.removeprefix("product:"), target.removeprefix("intent:"), int(weight)


def test_answer_path_gives_the_intents_article_and_policy_in_chinese_and_english(snapshot):
    product_id, intent, weight = _busiest_pair_from_marts(snapshot)
    product = next(p for p in pb.PRODUCTS if p["product_id"] == product_id)
    reference = {a["language"]: a for a in kb_articles() if a["intent"] == intent}

    answers = answer_path(snapshot, product["name_zh"], intent)
    assert {a["article_language"] for a in answers} == {"en", "zh"}
    for a in answers:
        ref = reference[a["article_language"]]
        assert a["article_id"] == ref["article_id"] and a["article_title"] == ref["title"]
        assert a["policy_id"] == policy_of(INTENT_BY_NAME[intent])
        assert a["issue_conversations"] == weight
        assert a["path"] == [f"product:{product_id}", f"intent:{intent}", f"kb_article:{ref['article_id']}",
                             f"policy:{a['policy_id']}"]

    (zh,) = answer_path(snapshot, product["name_zh"], intent, language="zh")
    assert zh["article_title"] == INTENT_BY_NAME[intent]["description_zh"]
    assert zh["policy_zh"] == reference["zh"]["policy_name"]
    (en,) = answer_path(snapshot, product["name_en"].upper(), f"intent:{intent}", language="en")
    assert en["article_title"] == INTENT_BY_NAME[intent]["description_en"]
    assert en["article_body"] and en["policy"] == reference["en"]["policy_name"]


def test_answer_path_falls_back_to_the_intents_article_for_an_unseen_pair(snapshot):
    seen = {tuple(r) for r in snapshot.execute(
        "select source_id, target_id from marts.kg_edges where relation = 'has_issue'").fetchall()}
    product, intent = next((f"product:{p['product_id']}", f"intent:{i['name']}")
                           for p in pb.PRODUCTS for i in pb.INTENTS
                           if (f"product:{p['product_id']}", f"intent:{i['name']}") not in seen)
    answers = answer_path(snapshot, product, intent)
    assert len(answers) == 2 and all(a["issue_conversations"] == 0 for a in answers)
    assert answer_path(snapshot, "no such product", intent) == []


def test_search_finds_a_product_by_its_chinese_name(snapshot):
    for product in pb.PRODUCTS:
        hits = search_nodes(snapshot, product["name_zh"])
        assert hits[0]["node_id"] == f"product:{product['product_id']}", product["name_zh"]
    vacuum = {h["node_id"] for h in search_nodes(snapshot, "扫地机器人", node_types=["product"])}
    assert vacuum == {"product:P032", "product:P033"}
    assert search_nodes(snapshot, "  ") == []


def test_hostile_text_is_bound_as_a_value_never_run(snapshot_path):
    """A node named with quotes and SQL is found by exact name and changes nothing."""
    evil = "O'Brien's \"Smart\" Plug'); drop table marts.kg_nodes; --"
    conn = duckdb.connect()  # a writable copy of the published graph, with the hostile node added
    try:
        conn.execute("attach ? as snap (read_only)", [snapshot_path])
        conn.execute("create schema marts")
        conn.execute("create table marts.kg_nodes as select * from snap.marts.kg_nodes")
        conn.execute("create table marts.kg_edges as select * from snap.marts.kg_edges")
        conn.execute("detach snap")
        conn.execute("""insert into marts.kg_nodes (node_id, node_type, name, name_zh, language, attributes,
                        mention_count) values (?, 'product', ?, ?, 'en', ?, 1)""",
                     [f"product:{evil}", evil, evil, json.dumps({"product_id": evil})])
        conn.execute("""insert into marts.kg_edges (source_id, relation, target_id, weight, evidence_count)
                        values (?, 'has_issue', 'intent:device_fault', 1, 1)""", [f"product:{evil}"])
        before = conn.execute("select count(*) from marts.kg_nodes").fetchone()[0]

        assert [h["node_id"] for h in search_nodes(conn, evil)] == [f"product:{evil}"]
        answers = answer_path(conn, evil, "device_fault")
        assert answers and all(a["product"] == evil and a["issue_conversations"] == 1 for a in answers)
        assert "intent:device_fault" in neighbourhood(conn, f"product:{evil}", hops=1).node_ids
        for text in HOSTILE_TEXTS:
            assert search_nodes(conn, text) == []
            assert answer_path(conn, text, text) == []
            assert neighbourhood(conn, text, hops=2, relations=[text]).nodes == []
        assert conn.execute("select count(*) from marts.kg_nodes").fetchone()[0] == before
    finally:
        conn.close()


def test_the_writer_warehouse_and_the_snapshot_answer_alike(warehouse, snapshot):
    product_id, intent, _ = _busiest_pair_from_marts(snapshot)
    a = neighbourhood(warehouse, f"product:{product_id}", hops=2, limit=50)
    b = neighbourhood(snapshot, f"product:{product_id}", hops=2, limit=50)
    assert a.node_ids == b.node_ids and len(a.nodes) <= 50
    assert answer_path(warehouse, product_id, intent) == answer_path(snapshot, product_id, intent)


def test_transfers_cities_and_roles_are_edges_without_people(warehouse):
    conversations = warehouse.execute("""
        select f.entry_team_id, f.team_id, coalesce(i.predicted_intent, a.intent) as intent, c.city
        from marts.fct_conversations as f
        left join marts.fct_conversation_intents as i using (conversation_id)
        left join intermediate.int_annotations__agreed_intents as a using (conversation_id)
        left join staging.stg_raw__customers as c using (customer_id)""").df()
    with_intent = conversations.dropna(subset=["intent"])
    teams_known = with_intent.dropna(subset=["entry_team_id", "team_id"])
    transfers = teams_known[teams_known["entry_team_id"] != teams_known["team_id"]]
    weights = dict(warehouse.execute("""
        select relation || case when target_id like 'team:%' then ':team' else '' end, sum(weight)
        from marts.kg_edges group by 1""").fetchall())
    assert weights["escalates_to:team"] == len(transfers) > 0
    assert weights["contacts_about"] == (with_intent["city"].fillna("").str.strip() != "").sum()
    store_cities = warehouse.execute("""
        select count(*) from marts.kg_edges
        where relation = 'contacts_about' and target_id = 'intent:store_info'""").fetchone()[0]
    assert store_cities > 0

    roles = {r[0] for r in warehouse.execute("select node_id from marts.kg_nodes where node_type = 'role'").fetchall()}
    assert roles == {"role:customer", "role:agent", "role:supervisor"}
    agent_names = {r[0] for r in warehouse.execute("select agent_name from staging.stg_raw__agents").fetchall()}
    ids = {r[0] for r in warehouse.execute("""
        select customer_id from staging.stg_raw__customers union select agent_id from staging.stg_raw__agents
        """).fetchall()}
    rows = warehouse.execute(
        "select node_id, name || ' ' || coalesce(name_zh, '') || ' ' || attributes::varchar from marts.kg_nodes").fetchall()
    text = "\n".join(t for _, t in rows)
    for name in agent_names:  # Latin names as whole words, Chinese names anywhere
        pattern = rf"\b{re.escape(name)}\b" if re.fullmatch(r"[^\u4e00-\u9fff]+", name) else re.escape(name)
        assert not re.search(pattern, text), f"agent name {name!r} in the graph"
    keys = {node_id.split(":", 1)[1] for node_id, _ in rows}
    assert not keys & ids, "a customer or agent id became a node"
