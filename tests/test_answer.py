"""The live answer engine on the session build: known messages get the right intent, answer and escalation."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from ml.answer import AnswerEngine, engine_from_settings, mask_pii

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(built):
    from tests.conftest import point_settings_at

    point_settings_at(built.data_dir)
    e = engine_from_settings()
    assert e is not None
    yield e
    e.close()


@pytest.fixture(scope="module")
def known_messages(built) -> pd.DataFrame:
    """First customer message (as staged, PII-masked) of held-out-looking contacts, with the true intent and mood."""
    s = built.settings
    conn = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        turns = conn.execute("""select conversation_id, turn_index, text from staging.stg_raw__turns
                                where speaker = 'customer'
                                qualify row_number() over (partition by conversation_id order by turn_index) = 1
                                order by conversation_id""").df()
    finally:
        conn.close()
    truth = pd.read_parquet(s.ground_truth_dir / "truth_conversations.parquet")
    emotions = pd.read_parquet(s.ground_truth_dir / "truth_turns.parquet")[["conversation_id", "turn_index", "emotion"]]
    frame = turns.merge(truth[["conversation_id", "intent", "language"]], on="conversation_id").merge(
        emotions, on=["conversation_id", "turn_index"])
    return frame.sample(n=min(100, len(frame)), random_state=3).reset_index(drop=True)


def test_known_messages_get_their_intent_and_its_article(engine, known_messages, monkeypatch):
    # These messages are themselves resolved contacts of the snapshot: their own past answers would stand in for
    # every unsure intent. This test is about the intent paths, so past answers are switched off here.
    monkeypatch.setattr(engine, "min_past_similarity", 2.0)
    results = [engine.answer(t) for t in known_messages["text"]]
    intent_right = pd.Series([r.intent for r in results]) == known_messages["intent"]
    # The engine picks the better path on held-out reviewed contacts; measured 0.77 (few-shot) on this build.
    assert intent_right.mean() >= 0.65, intent_right.mean()
    top_answer_right = pd.Series([r.answers[0].intent if r.answers else None for r in results]) == known_messages["intent"]
    assert top_answer_right.mean() >= 0.55, top_answer_right.mean()
    # The reply is the predicted intent's article, in the customer's language where the KB has that language.
    for r, lang in zip(results, known_messages["language"]):
        assert r.suggested_reply, r
        if lang in ("zh", "en"):
            assert r.reply_language == lang
    # Confident answers are right more often than the ones handed to a person.
    handled = pd.Series([not any(x.startswith("intent uncertain") for x in r.escalate_reasons) for r in results])
    assert handled.any() and (~handled).any()
    assert intent_right[handled].mean() > intent_right[~handled].mean()


def test_a_question_a_resolved_contact_answered_gets_that_reply_with_its_citation(engine):
    """Past answers: the agent's reply to the same question, cited by its conversation; an unrelated message
    gets none that is close enough to reuse."""
    cursor = engine._conn.cursor()
    rows = cursor.execute("""select question, answer, conversation_id from marts.dim_resolved_answers
                             where resolution_evidence = 'closed as resolved' and length(question) > 20
                             order by conversation_id limit 5""").fetchall()
    answered = cursor.execute("select count(*) from marts.dim_resolved_answers").fetchone()[0]
    cursor.close()
    assert rows and answered > 100
    for question, answer, conversation_id in rows:
        r = engine.answer(question)
        best = r.past_answers[0]
        assert best.score >= 0.99 and best.title == question, (question, best)
        assert best.source.startswith(f"past answer: conversation {best.article_id} (closed as resolved")
        assert best.text  # the reply of that conversation, or of one that asked exactly the same
        if r.reply_source and r.reply_source.startswith("past answer"):
            assert r.suggested_reply == best.text and not any("intent uncertain" in x for x in r.escalate_reasons)
    for text in ("zxq vvkp 8812 plorb", "What is the weather on Mars?"):  # nobody here ever answered these
        far = engine.answer(text)
        assert far.past_answers and far.past_answers[0].score < engine.min_past_similarity, far.past_answers[:1]
        assert not (far.reply_source or "").startswith("past answer") and far.escalate


def test_angry_customers_and_requests_for_a_person_are_escalated(engine, known_messages):
    angry = known_messages[known_messages["emotion"] == "angry"]["text"].tolist()[:30]
    assert angry, "the sample has angry openings"
    escalated = [engine.answer(t).escalate for t in angry]
    assert sum(escalated) / len(escalated) >= 0.8
    for text in ("I want to talk to a real person right now", "我要转人工"):
        r = engine.answer(text)
        assert r.escalate and "customer asks for a person" in r.escalate_reasons


def test_languages_and_the_translation_note(engine):
    zh = engine.answer("我的订单还没有到，已经一个星期了，帮我查一下物流")
    assert zh.language == "zh" and zh.intent is not None
    assert zh.reply_language == "zh"
    assert zh.translation is not None or "embeddings" in zh.translation_note
    es = engine.answer("¿Dónde está mi pedido? Lo compré hace una semana")
    assert es.language == "es"
    assert es.answers and es.suggested_reply


def test_personal_data_never_reaches_the_models(engine):
    r = engine.answer("My phone is 13812345678 and email jane.doe@example.com, card 6222020200112233445")
    assert "13812345678" not in r.text and "jane.doe@example.com" not in r.text and "6222020200112233445" not in r.text
    assert "[PHONE]" in r.text and "[EMAIL]" in r.text and "[BANK_CARD]" in r.text
    assert mask_pii("ID 11010519491231002X please") == "ID [ID_CARD] please"


@pytest.mark.parametrize("message", ["", "   ", "😀😀😀", "x" * 20000, "'; drop table marts.kg_nodes; --",
                                     "<script>alert(1)</script>"])
def test_odd_messages_never_raise(engine, message):
    r = engine.answer(message)
    assert isinstance(r.escalate, bool)
    if not message.strip() or message == "😀😀😀":
        assert r.escalate and r.escalate_reasons == ["empty message"]


def test_a_product_named_in_the_message_follows_the_knowledge_graph(engine):
    conn = engine._conn.cursor()
    name = conn.execute("""select name from marts.kg_nodes where node_type = 'product'
                           order by mention_count desc limit 1""").fetchall()[0][0]
    conn.close()
    r = engine.answer(f"The {name} I bought arrived damaged, the screen is cracked")
    assert r.products, r
    graph = [a for a in r.answers if a.source.startswith("knowledge graph")]
    assert graph and graph[0].policy, r.answers


def test_the_engine_loads_once_and_answers_many(engine, built):
    assert isinstance(engine, AnswerEngine)
    r1 = engine.answer("how do I reset my password")
    r2 = engine.answer("how do I reset my password")
    assert r1.intent == r2.intent and r1.intent_confidence == r2.intent_confidence  # deterministic


def test_the_live_answer_page_answers_a_picked_example(use_built):
    from tests.app_pages import open_page

    at = open_page("dashboards/pages/answer.py", timeout=180)
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox[0].select("Angry, wants a person")
    next(b for b in at.button if b.label == "Answer").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Language"] == "en" and metrics["Intent"] != "—"
    assert at.error and "Hand over to a person" in at.error[0].value and "asks for a person" in at.error[0].value


def test_a_calm_customer_with_an_opportunity_gets_the_offer(engine):
    cursor = engine._conn.cursor()
    rows = cursor.execute("""select customer_id, product_id from marts.fct_cross_sell_opportunities
                             qualify row_number() over (partition by customer_id order by started_at desc, offer_rank) = 1
                             order by customer_id limit 1""").fetchall()
    cursor.close()
    assert rows, "the sample build has cross-sell opportunities"
    customer_id, product_id = rows[0]
    calm = engine.answer("How do I reset my password?", customer_id=customer_id)
    assert not calm.escalate, calm.escalate_reasons
    assert calm.cross_sell and calm.cross_sell["product_id"] == product_id
    angry = engine.answer("This is the third time, I want a supervisor NOW", customer_id=customer_id)
    assert angry.escalate and angry.cross_sell is None  # no offers to a customer who needs a person


def test_the_live_mask_is_the_staging_mask():
    """The answer engine and staging mask with the same recognisers (warehouse.pii), so they cannot drift."""
    from service_insight.settings import DBT_PROJECT_DIR
    from warehouse import pii
    from warehouse.dbt_secrets import register_mask_function

    assert mask_pii is pii.mask
    macro = (DBT_PROJECT_DIR / "macros" / "mask_pii.sql").read_text()
    assert "si_mask_pii({{ text_expr }})" in macro
    samples = ["call me on 13912345678 or +86 139-1234-5678, mail li.wei@example.com",
               "身份证 11010119900101123X 卡号 6222021234567890123 订单 O00000363",
               "(415) 555-0199 and 415.555.0199, date 2026-10-30, ref A1234567890123456789B",
               "no personal data here", "电话：+1 721-801-4111。谢谢", "手机13912345678号，卡6222021234567890123号"]
    with duckdb.connect() as conn:  # its own connection: a half-read result on the default one blocks others
        register_mask_function(conn)
        for text in samples:
            assert conn.execute("select si_mask_pii(?)", [text]).fetchall()[0][0] == mask_pii(text), text



def test_products_are_named_by_their_whole_name_the_longer_one_first():
    from ml.answer import named_products, product_patterns

    patterns = product_patterns([
        ("product:P1", "Pen", None, 5),                    # no Chinese name (a catalogue without one)
        ("product:P2", "Robot Vacuum", "扫地机器人", 90),
        ("product:P3", "Robot Vacuum Filter", "扫地机器人替换滤网", 3),
        ("product:P4", None, None, 1),                     # a product known only by its key: never named
        ("product:P5", "iPhone 15", "", float("nan")),
    ])
    assert [p[0] for p in patterns] == ["product:P1", "product:P2", "product:P3", "product:P5"]
    assert named_products("Please open the box", patterns) == []          # "pen" inside "open" is no pen
    assert named_products("my PEN leaks", patterns) == ["product:P1"]
    assert named_products("扫地机器人替换滤网不合适", patterns) == ["product:P3"]  # not the vacuum inside it
    assert named_products("the robot vacuum filter and the robot vacuum", patterns) == ["product:P3", "product:P2"]
    assert named_products("iPhone 15s are out", patterns) == []
    assert named_products("我的iPhone 15坏了", patterns) == ["product:P5"]
