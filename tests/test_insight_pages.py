"""The five insight pages (emotion, quality, knowledge graph, languages, models) on the built warehouse.

Each test drives a page the way a person would (AppTest: pick, search, follow, compare) and checks
what it shows against the published snapshot itself, read with plain DuckDB.
"""

from __future__ import annotations

import json
import math
import shutil

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.graph_layout import radial_layout
from service_insight.settings import get_settings
from tests.app_pages import open_page
from tests.conftest import point_settings_at
from warehouse.snapshot import current

pytestmark = pytest.mark.slow


def run_page(page: str) -> AppTest:
    at = open_page(f"dashboards/pages/{page}.py", timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    return at


def snapshot_rows(sql: str, params: list | None = None) -> list[tuple]:
    ref = current(get_settings().snapshot_dir)
    with duckdb.connect(str(ref.path), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def period(at: AppTest) -> list:
    filters = at.session_state["filters"]
    return [filters.start, filters.end]


def pick(at: AppTest, key: str, index: int):
    """Choose an option by position (options carry display labels) and return the value the page got."""
    at.selectbox(key=key).select_index(index).run()
    assert not at.exception, [e.value for e in at.exception]
    return at.session_state[key]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_emotion_page_shows_the_conversation_behind_a_picked_alert(use_built):
    at = run_page("emotion")
    start, end = period(at)
    alerts = snapshot_rows("select count(*) from marts.fct_emotion_alerts where started_date between ? and ?",
                           [start, end])[0][0]
    assert int(metric(at, "Alerts").replace(",", "")) == alerts > 0

    picked = pick(at, "emotion_alert", min(3, len(at.selectbox(key="emotion_alert").options) - 1))
    turns, alert_turn = snapshot_rows("""
        select (select count(*) from marts.fct_turns where conversation_id = ?), alert_turn_index
        from marts.fct_emotion_alerts where conversation_id = ?""", [picked, picked])[0]
    assert len(at.chat_message) == turns
    callouts = [c.value for c in (*at.error, *at.warning) if c.value.startswith("Alert raised here")]
    assert len(callouts) == 1
    alert_bubble = at.chat_message[alert_turn]
    assert any(c.value.startswith("Alert raised here") for c in (*alert_bubble.error, *alert_bubble.warning))


def test_quality_page_scores_twelve_dimensions_by_team_and_agent(use_built):
    at = run_page("quality")
    dimensions = {r[0] for r in snapshot_rows("select distinct dimension from marts.fct_qa_checks")}
    assert len(dimensions) == 12
    assert metric(at, "QA dimensions") == "12"
    assert set(at.dataframe[0].value["dimension"]) == dimensions

    at.radio(key="quality_group_by").set_value("Agent").run()
    assert not at.exception, [e.value for e in at.exception]
    heatmap = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]
    assert heatmap["type"] == "heatmap"
    assert set(heatmap["x"]) == dimensions
    assert all(str(agent).startswith("A") for agent in heatmap["y"])

    picked = at.session_state["quality_conversation"]
    failed = snapshot_rows("select count(*) from marts.fct_qa_checks where conversation_id = ? and failed",
                           [picked])[0][0]
    assert failed > 0
    assert len([e for e in at.error if e.value.startswith("Failed check")]) == failed


def test_knowledge_graph_search_for_a_product_shows_its_graph_and_follows_a_relation(use_built):
    product_id, name = snapshot_rows("select node_id, name from marts.kg_nodes where node_type = 'product' "
                                     "order by mention_count desc, node_id limit 1 offset 3")[0]
    at = run_page("knowledge_graph")
    at.text_input(key="kg_search").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["kg_pick"] == product_id
    graph = json.loads(at.get("plotly_chart")[0].proto.spec)
    drawn = [label for trace in graph["data"] if trace.get("mode") == "markers+text" for label in trace["text"]]
    neighbours = snapshot_rows("""
        select count(distinct case when source_id = ? then target_id else source_id end)
        from marts.kg_edges where ? in (source_id, target_id)""", [product_id, product_id])[0][0]
    assert name[:21] in " ".join(drawn)
    assert 1 < len(drawn) <= neighbours + 1

    target = pick(at, "kg_follow", 1)
    at.button(key="kg_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.markdown[0].value.endswith(f"`{target}`")
    at.button(key="kg_back").click().run()
    assert at.markdown[0].value == f"**Centre:** `{product_id}`"

    assert at.session_state["kg_answer_product"] == product_id
    paths = [m.value for m in at.markdown if m.value.count("→") == 3]
    assert paths, "the answer path for the product shows at least one article"


def test_languages_page_lists_zh_and_en_and_translates_a_conversation(use_built):
    at = run_page("languages")
    start, end = period(at)
    labels = {m.label for m in at.metric}
    assert {"zh contacts", "en contacts"} <= labels
    contacts = snapshot_rows("select sum(contacts) from marts.fct_kpi_daily where kpi_date between ? and ?",
                             [start, end])[0][0]
    assert int(at.dataframe[0].value["contacts"].sum()) == contacts

    not_usable = snapshot_rows("select count(*) from marts.fct_translation_quality where target_language = ? "
                               "and not usable", [get_settings().translation_pivot])[0][0]
    assert len([w for w in at.warning if "cross-lingual embeddings" in w.value]) == not_usable

    at.selectbox(key="languages_language").set_value("zh").run()
    picked = at.session_state["languages_conversation"]
    turns = snapshot_rows("select count(*) from marts.fct_turns where conversation_id = ?", [picked])[0][0]
    side_by_side = at.dataframe[-1].value
    assert len(side_by_side) == turns
    assert {"original", "translation", "detected"} <= set(side_by_side.columns)
    assert (side_by_side["detected"] == "zh").mean() > 0.5


def test_models_page_compares_two_picked_versions(use_built):
    at = run_page("models")
    start, end = period(at)
    at.selectbox(key="models_ab_task").set_value("intent").run()
    at.selectbox(key="models_ab_a").set_value("zero-shot embeddings").run()
    at.selectbox(key="models_ab_b").set_value("few-shot embeddings").run()
    assert not at.exception, [e.value for e in at.exception]
    acc_a, acc_b, fixes, breaks = snapshot_rows("""
        select
            avg((zero_shot_intent = reviewed_intent)::int) filter (where reviewed_intent is not null),
            avg((few_shot_intent = reviewed_intent)::int) filter (where reviewed_intent is not null),
            count(*) filter (where zero_shot_intent <> few_shot_intent and few_shot_intent = reviewed_intent),
            count(*) filter (where zero_shot_intent <> few_shot_intent and zero_shot_intent = reviewed_intent)
        from marts.fct_conversation_intents where started_date between ? and ?""", [start, end])[0]
    assert metric(at, "Accuracy A") == f"{acc_a:.1%}"
    assert metric(at, "Accuracy B") == f"{acc_b:.1%}"
    assert int(metric(at, "B fixes").replace(",", "")) == fixes
    assert int(metric(at, "B breaks").replace(",", "")) == breaks
    assert "Confusion matrix on reviewed intents" in [s.value for s in at.subheader]


def test_models_page_reads_a_retrained_pair_from_the_comparison_mart(use_built, tmp_path):
    """After a retrain fct_model_comparison holds the pair; picked newest-first, A and B swap sides."""
    source = current(get_settings().snapshot_dir)
    (tmp_path / "snapshots").mkdir()
    name = "warehouse-29990101T000000000000Z-retrain.duckdb"
    shutil.copyfile(source.path, tmp_path / "snapshots" / name)  # copyfile: the published file is read-only
    with duckdb.connect(str(tmp_path / "snapshots" / name)) as conn:
        conn.execute("""insert into marts.fct_model_comparison values
            ('emotion', 'emotion-old', 'emotion-new', true, 5000, 0.9, 400, 0.70, 0.80, 60, 20)""")
    (tmp_path / "snapshots" / "CURRENT.json").write_text(json.dumps({
        "version": "29990101T000000000000Z-retrain", "file": name, "published_at": "2999-01-01T00:00:00+00:00",
        "tables": source.tables}))
    point_settings_at(tmp_path)
    at = run_page("models")
    at.selectbox(key="models_ab_task").set_value("emotion").run()
    at.selectbox(key="models_ab_a").set_value("emotion-new").run()
    at.selectbox(key="models_ab_b").set_value("emotion-old").run()
    assert not at.exception, [e.value for e in at.exception]
    assert metric(at, "Accuracy A") == "80.0%" and metric(at, "Accuracy B") == "70.0%"
    assert metric(at, "B fixes") == "20" and metric(at, "B breaks") == "60"
    versions = at.dataframe[0].value
    assert {"emotion-old", "emotion-new"} <= set(versions["version"])


def test_graph_layout_puts_each_ring_at_its_distance_deterministically():
    nodes = [{"node_id": "c", "depth": 0, "path": ["c"], "node_type": "product"}]
    nodes += [{"node_id": f"n{i}", "depth": 1, "path": ["c", f"n{i}"], "node_type": "intent"} for i in range(6)]
    nodes += [{"node_id": f"m{i}", "depth": 2, "path": ["c", f"n{i % 6}", f"m{i}"], "node_type": "kb_article"}
              for i in range(12)]
    first = radial_layout(nodes, "c")
    assert first == radial_layout(list(reversed(nodes)), "c")
    assert first["c"] == (0.0, 0.0)
    for node in nodes[1:]:
        assert math.hypot(*first[node["node_id"]]) == pytest.approx(node["depth"])
    points = {(round(x, 6), round(y, 6)) for x, y in first.values()}
    assert len(points) == len(nodes)


def test_models_page_shows_every_candidate_of_each_current_model(use_built):
    """Each text model says which candidates it weighed, their cross-validated scores, and which it kept."""
    rows = snapshot_rows("""
        select task, count(*) filter (where is_chosen), count(*) filter (where cv_macro_f1 is not null),
               max(cv_macro_f1) filter (where is_chosen), max(cv_macro_f1) filter (where not is_chosen)
        from marts.dim_model_candidates where is_current group by task order by task""")
    assert [r[0] for r in rows] == ["emotion", "intent", "quality_act"]
    for task, chosen, scored, chosen_f1, best_other in rows:
        assert chosen == 1 and scored >= 3, task  # TF-IDF, frozen encoder, ensemble at least
        assert chosen_f1 >= best_other - 0.002, task  # the kept one is the best, or a cheaper one within noise
    at = run_page("models")
    assert not at.exception, [e.value for e in at.exception]
    assert "How each current model was chosen" in [s.value for s in at.subheader]
    shown = [df.value for df in at.dataframe if "candidate" in df.value.columns]
    assert len(shown) == 3 and all(df["kept"].sum() == 1 for df in shown)
    text = " ".join(m.value for m in at.markdown)
    assert text.count("kept **") == 3 and text.count("calibration error") == 3  # the held-out figures of each
