"""The trainee simulator on customers mined from the session build: repeatable, fair to good agents, harsh on
rude ones, and a curriculum that follows the trainee."""

from __future__ import annotations

import json
import os
from unittest import mock

import pytest

pytestmark = pytest.mark.slow

EMPATHY_ASK = {"en": "I'm sorry about that, I understand. Could you tell me a bit more?",
               "zh": "非常抱歉给您带来不便，我理解您的心情。能再详细说一下吗？"}
IGNORING = "Our store opens at nine and we sell many different products."
RUDE = ["not my problem", "you should have read the instructions", "i'm not going to repeat myself"]


@pytest.fixture(scope="module")
def bank(built):
    from ml.simulator import bank_from_settings
    from tests.conftest import point_settings_at

    point_settings_at(built.data_dir)
    bank = bank_from_settings()
    assert bank is not None and len(bank.personas) >= 30 and len(bank.intents) >= 10
    return bank


def good_script(bank, seed, intent=None):
    """An agent who acknowledges, asks, then answers from the intent's references (an oracle trainee)."""
    persona = bank.persona(seed, intent)
    gold = next(t for t, i in zip(bank.ref_texts, bank.ref_intents) if i == persona.intent)
    ask = EMPATHY_ASK.get(persona.language, EMPATHY_ASK["en"])
    return [ask, ask, gold, gold, gold]


def test_a_seeded_session_repeats_exactly(bank):
    from ml.simulator import simulate

    script = good_script(bank, 11) + [IGNORING]
    first, again = simulate(bank, script, 11, 2), simulate(bank, script, 11, 2)
    assert first == again and first["turns"]
    assert len({simulate(bank, [IGNORING], seed, 2)["persona_id"] for seed in range(8)}) > 1  # seeds draw others


def test_a_good_agent_meets_the_goal_more_often_than_a_rude_one_at_every_difficulty(bank):
    from ml.simulator import simulate

    for difficulty in (1, 2, 3):
        good = [simulate(bank, good_script(bank, seed), seed, difficulty)["goal_met"] for seed in range(12)]
        rude = [simulate(bank, RUDE, seed, difficulty)["goal_met"] for seed in range(12)]
        assert sum(good) >= 9 and sum(rude) == 0, (difficulty, good, rude)


def test_the_customer_gets_angrier_when_ignored_and_leaves(bank):
    from ml.simulator import MOODS, simulate

    result = simulate(bank, [IGNORING] * 6, 4, 1)
    moods = [MOODS.index(t["mood_before"]) for t in result["turns"]]
    assert moods == sorted(moods) and moods[-1] > moods[0]
    assert result["customer_left"] and not result["goal_met"] and result["final_mood"] == "left"
    assert all(t["outcome"] in ("ignored", "left") for t in result["turns"])


def test_the_scorer_ranks_the_reference_answer_above_a_rude_or_off_topic_reply(bank):
    from ml.simulator import simulate

    for seed in range(6):
        persona = bank.persona(seed)
        gold = good_script(bank, seed)[2]
        g_sim, g_helpful, *_ = bank.score_reply(gold, persona)
        r_sim, r_helpful, _, _, forbidden = bank.score_reply(RUDE[0], persona)
        assert g_sim > r_sim and g_helpful and not r_helpful and forbidden == ["not my problem"]
        assert simulate(bank, good_script(bank, seed), seed, 1)["score"] > simulate(bank, RUDE, seed, 1)["score"]


def test_the_curriculum_moves_up_after_successes_and_down_after_failures(bank):
    from ml.simulator import Curriculum

    start = Curriculum(bank.intents[:4], seed=3)
    strong = Curriculum(bank.intents[:4], seed=3, history=[(i, d, True) for i in bank.intents[:4] for d in (1, 2)] * 2)
    weak = Curriculum(bank.intents[:4], seed=3, history=[(i, d, False) for i in bank.intents[:4] for d in (1, 2)] * 2)
    assert weak.expected_difficulty() < start.expected_difficulty() < strong.expected_difficulty()
    assert start.next_case() == Curriculum(bank.intents[:4], seed=3).next_case()  # seeded


def test_simulate_from_the_command_line(use_built, tmp_path, capsys):
    from service_insight.cli import main

    replies = tmp_path / "replies.txt"
    replies.write_text("\n".join(RUDE), encoding="utf-8")
    assert main(["simulate", "--persona-seed", "3", "--difficulty", "2", "--agent-replies", str(replies),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not result["goal_met"] and not result["policy_compliant"] and result["turns"][0]["forbidden"]
    assert main(["simulate", "--agent-replies", str(tmp_path / "absent.txt")]) == 2
    assert "cannot read the replies file" in capsys.readouterr().err
    assert main(["simulate", "--intent", "no_such_intent", "--agent-replies", str(replies)]) == 2


def test_the_page_runs_a_case_and_lands_the_session(use_built, tmp_path):
    """Start a case the curriculum picks, answer it, and find the session in the landing folder, valid."""
    import duckdb
    from tests.app_pages import open_page
    from tests.conftest import point_settings_at
    from warehouse.ingest import load_source
    from warehouse.sources import SOURCE_BY_NAME

    with mock.patch.dict(os.environ):
        point_settings_at(use_built.data_dir)
        os.environ["SI_LANDING_DIR"] = str(tmp_path / "landing")
        at = open_page("dashboards/pages/simulator.py", timeout=180)
        assert not at.exception, [e.value for e in at.exception]
        at.text_input(key="sim_trainee").set_value("Trainee Tess").run()
        at.button[0].click().run()
        assert not at.exception, [e.value for e in at.exception]
        for text in RUDE:
            if not at.chat_input:
                break
            at.chat_input[0].set_value(text).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("forbidden" in c.value for c in at.caption)
        assert any("left without an answer" in e.value for e in at.error)
    files = list((tmp_path / "landing" / "training_sessions").glob("training_*.jsonl"))
    assert len(files) == 1
    with duckdb.connect(str(tmp_path / "w.duckdb")) as c:
        report = load_source(c, SOURCE_BY_NAME["training_sessions"], tmp_path / "landing")
        row = c.execute("select trainee, goal_met, policy_compliant, picked_by, transcript from raw.training_sessions"
                        ).fetchone()
    assert report.rows_loaded == 1 and report.rows_quarantined == 0
    assert row[:4] == ("Trainee Tess", False, False, "curriculum") and json.loads(row[4])[1]["forbidden"]
