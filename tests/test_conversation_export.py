"""One row per conversation: the summary mart, `service-insight export conversations`, and the Conversations page.

On the session build: the mart has exactly the conversations of fct_conversations with times in UTC and in
the business time zone; the export writes every row (CSV and Parquet), drops the conversation text for roles
that may not read it, filters by date, audits itself and says why a window is empty; the page's tiles count
exactly the rows it lists, agree with the Overview and Tickets figures they drill down from, and a row opens
its transcript.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

import duckdb
import pandas as pd
import pytest

from tests.app_pages import open_page

pytestmark = pytest.mark.slow
PAGE = "dashboards/pages/conversations.py"


def _snapshot(built) -> duckdb.DuckDBPyConnection:
    from warehouse.snapshot import current, open_readonly

    return open_readonly(current(built.settings.snapshot_dir))


def test_one_row_per_conversation_with_times_in_utc_and_business_time(use_built):
    with _snapshot(use_built) as conn:
        summary = conn.execute("select * from marts.fct_conversation_summary").df()
        conversations = conn.execute("select count(*) from marts.fct_conversations").fetchone()[0]
        tickets = conn.execute("select count(*) from marts.fct_tickets").fetchone()[0]
    assert len(summary) == summary["conversation_id"].nunique() == conversations > 0
    zone = zoneinfo.ZoneInfo(use_built.settings.timezone)
    assert set(summary["business_timezone"]) == {use_built.settings.timezone}
    for row in summary.dropna(subset=["started_at_local"]).head(300).itertuples():
        offset = row.started_at_local.to_pydatetime().replace(tzinfo=zone).utcoffset()
        assert row.started_at_local - row.started_at_utc == offset, row.conversation_id
    paths = summary["emotion_path"].dropna()
    assert len(paths) > 0.5 * len(summary)  # the models read the customers' turns
    assert not any(a == b for p in paths for a, b in zip(p.split(" > "), p.split(" > ")[1:]))  # repeats written once
    assert summary["ticket_count"].sum() == tickets
    assert summary["intent_of_record"].notna().mean() > 0.9 and summary["language"].notna().mean() > 0.9
    calls = summary[summary["channel"] == "phone"]
    assert calls["talk_seconds"].notna().any()
    assert summary.loc[summary["channel"] == "chat", "talk_seconds"].isna().all()


def _export(*args: str) -> int:
    from service_insight.cli import main

    return main(["export", "conversations", *args])


def test_the_export_writes_every_conversation_masked_for_the_role(use_built, tmp_path, capsys):
    from dashboards.audit import read_events

    with _snapshot(use_built) as conn:
        total = conn.execute("select count(*) from marts.fct_conversations").fetchone()[0]
        last = conn.execute("select max(started_date) from marts.fct_conversations").fetchone()[0]
        since = last - timedelta(days=6)
        recent = conn.execute("select count(*) from marts.fct_conversations where started_date >= ?",
                              [since]).fetchone()[0]
    assert _export("--out", str(tmp_path / "all.csv")) == 0
    analyst = pd.read_csv(tmp_path / "all.csv")
    assert len(analyst) == total and "first_customer_message" not in analyst.columns
    assert {"intent_of_record", "emotion_path", "quality_score", "failed_dimensions", "csat", "handle_seconds",
            "started_at_utc", "started_at_local", "is_first_contact_resolution"} <= set(analyst.columns)
    assert "without the masked first message (role analyst)" in capsys.readouterr().out

    assert _export("--format", "parquet", "--role", "supervisor", "--out", str(tmp_path / "all.parquet")) == 0
    supervisor = pd.read_parquet(tmp_path / "all.parquet")
    assert len(supervisor) == total and supervisor["first_customer_message"].notna().mean() > 0.9
    assert not supervisor["first_customer_message"].str.contains(r"[\w.+-]+@[\w-]+\.[A-Za-z]{2,}", regex=True).any()

    assert _export("--since", since.isoformat(), "--out", str(tmp_path / "recent.csv")) == 0
    assert len(pd.read_csv(tmp_path / "recent.csv")) == recent < total
    event = read_events()[-1]
    assert event["event"] == "export" and event["rows"] == recent and event["role"] == "analyst"
    capsys.readouterr()

    assert _export("--since", (last + timedelta(days=30)).isoformat(), "--out", str(tmp_path / "none.csv")) == 0
    assert "none started in that window (the snapshot covers" in capsys.readouterr().out
    assert _export("--role", "owner") == 2 and "unknown role 'owner'" in capsys.readouterr().out
    assert _export("--since", "2026-02-01", "--until", "2026-01-01") == 2


def test_an_export_before_any_build_says_how_to_get_one(tmp_path, capsys):
    from tests.conftest import point_settings_at

    point_settings_at(tmp_path)
    assert _export() == 2
    assert "no published snapshot" in capsys.readouterr().out


def _tile(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_page_counts_what_it_lists_and_agrees_with_the_figures_it_drills_from(use_built):
    overview = open_page()
    contacts = int(_tile(overview, "Contacts").replace(",", ""))
    assert [link.proto.query_string for link in overview.get("page_link")][:4] == [
        "", "fcr=no", "transferred=yes", "abandoned=yes"]

    at = open_page(PAGE)
    assert not at.exception, [e.value for e in at.exception]
    assert int(_tile(at, "Conversations").replace(",", "")) == contacts  # the same period, channels and queues
    assert _tile(at, "First-contact resolution") == _tile(overview, "First-contact resolution")

    at.query_params["transferred"] = "yes"
    at.run()
    listed = at.dataframe[0].value
    assert 0 < len(listed) == int(_tile(at, "Conversations").replace(",", ""))

    tickets = open_page("dashboards/pages/tickets.py")
    link = next(link for link in tickets.get("page_link") if link.proto.query_string == "ticket=yes")
    assert link.proto.label == "The contacts behind these tickets"
    at.query_params.clear()
    at.query_params["ticket"] = "yes"
    at.run()
    assert _tile(at, "Conversations") == _tile(tickets, "Tickets")


def test_choosing_a_conversation_opens_its_transcript_and_readings(use_built):
    at = open_page(PAGE)
    first = at.dataframe[0].value.iloc[0]["conversation_id"]
    at.text_input[0].set_value(first).run()
    assert not at.exception and _tile(at, "Conversations") == "1"
    assert f"Conversation {first}" in [h.value for h in at.subheader]
    facts = "\n".join(m.value for m in at.markdown)
    assert "**Intent:**" in facts and "**Emotion path:**" in facts
    assert len(at.chat_message) >= 2  # the turns, customer and agent


def test_service_levels_are_measured_on_both_clocks_and_the_page_links_to_the_misses(use_built):
    with _snapshot(use_built) as conn:
        levels = conn.execute("select * from marts.fct_service_levels").df()
        conversations = conn.execute("select count(*) from marts.fct_conversations").fetchone()[0]
    assert len(levels) == levels["conversation_id"].nunique() == conversations
    assert levels["sla_clock"].notna().all()  # the default targets cover every channel
    timed = levels.dropna(subset=["first_response_business_seconds"])
    assert len(timed) and (timed["first_response_business_seconds"] <= timed["first_response_seconds"] + 1e-6).all()
    assert (levels["elapsed_business_seconds"] <= levels["elapsed_seconds"] + 1e-6).all()
    assert (levels["elapsed_business_seconds"] < levels["elapsed_seconds"]).any()  # some contacts run out of hours
    assert not levels.loc[levels["is_abandoned"], "first_response_met"].any()
    for what in ("first_response", "resolution"):  # the target's own clock is one of the two, row by row
        for clock in ("wall", "business"):
            own = levels[levels["sla_clock"] == clock]
            assert own[f"{what}_met"].astype("boolean").equals(own[f"{what}_met_{clock}"].astype("boolean")), what
        # open hours never count more than the wall clock: met on the wall clock means met in business hours
        wall, business = (levels[f"{what}_met_{c}"].astype("boolean") for c in ("wall", "business"))
        assert not (wall.fillna(False) & ~business.fillna(True)).any(), what

    page = open_page("dashboards/pages/service_levels.py")
    assert not page.exception, [e.value for e in page.exception]
    for tile, key in (("Missed first response", "first_response_met"), ("Missed resolution", "resolution_met")):
        contacts = open_page(PAGE)
        contacts.query_params[key] = "no"
        contacts.run()
        assert _tile(contacts, "Conversations") == _tile(page, tile), tile
    assert {link.proto.query_string for link in page.get("page_link")} >= {"first_response_met=no",
                                                                          "resolution_met=no"}
    by_day = page.dataframe[1].value
    page.radio[0].set_value("Agent").run()
    by_agent = page.dataframe[1].value
    assert not page.exception and by_agent["contacts"].sum() == by_day["contacts"].sum() > 0


def test_surveys_report_per_question_with_response_rates_and_feed_csat(use_built):
    with _snapshot(use_built) as conn:
        answers = conn.execute("select * from marts.fct_survey_answers").df()
        csat_kpi = conn.execute("select sum(csat_responses) from marts.fct_kpi_daily").fetchone()[0]
        csat_contacts = conn.execute("select count(csat) from marts.fct_conversations").fetchone()[0]
    assert len(answers) and set(answers["question_id"]) == {"q_csat", "q_effort", "q_comment"}
    per_question = answers.groupby("question_id")["is_answered"].mean()
    assert 0 < per_question["q_comment"] < per_question["q_csat"] < 1  # not every survey, nor every question
    assert answers.loc[answers["is_answered"] & (answers["measure"] != "other"), "score_share"].between(0, 1).all()
    assert csat_kpi == csat_contacts > 0  # the KPIs count one answer per contact, whichever contract carried it

    page = open_page("dashboards/pages/surveys.py")
    assert not page.exception, [e.value for e in page.exception]
    tiles = {m.label: m.value for m in page.metric}
    table = page.dataframe[0].value
    assert set(table["question_id"]) == {"q_csat", "q_effort", "q_comment"}
    assert int(tiles["Surveys sent"].replace(",", "")) == table.loc[table["question_id"] == "q_csat", "sent"].iloc[0]
    comments = page.dataframe[1].value  # no login configured: every role reads text
    assert len(comments) and comments["contact"].str.startswith("/conversations?conversation=CV").all()


def test_a_failed_quality_dimension_drills_down_to_exactly_the_contacts_that_failed_it(use_built):
    quality = open_page("dashboards/pages/quality.py")
    assert not quality.exception, [e.value for e in quality.exception]
    dimensions = quality.dataframe[0].value.set_index("dimension")
    failing = [d for d in dimensions.index if dimensions.loc[d, "failed"] > 0]
    assert failing
    for dimension in failing[:3]:
        contacts = open_page(PAGE)
        contacts.query_params["failed"] = dimension
        contacts.run()
        assert int(_tile(contacts, "Conversations").replace(",", "")) == dimensions.loc[dimension, "failed"], dimension
    link = next(link for link in quality.get("page_link") if link.proto.query_string.startswith("failed="))
    assert link.proto.query_string == f"failed={failing[0]}"


def test_the_emotion_alerts_drill_down_to_the_conversations_that_raised_them(use_built):
    emotion = open_page("dashboards/pages/emotion.py")
    assert not emotion.exception, [e.value for e in emotion.exception]
    alerts = int(_tile(emotion, "Alerts").replace(",", ""))
    assert alerts > 0
    assert {link.proto.query_string for link in emotion.get("page_link")} == {"alert=yes", "escalated=yes"}
    contacts = open_page(PAGE)
    contacts.query_params["alert"] = "yes"
    contacts.run()
    assert int(_tile(contacts, "Conversations").replace(",", "")) == alerts


def test_a_language_drills_down_to_exactly_its_contacts(use_built):
    languages = open_page("dashboards/pages/languages.py")
    assert not languages.exception, [e.value for e in languages.exception]
    tiles = {m.label.removesuffix(" contacts"): m.value for m in languages.metric if m.label.endswith(" contacts")}
    assert len(tiles) >= 2
    for language, shown in list(tiles.items())[:2]:
        contacts = open_page(PAGE)
        contacts.query_params["language"] = language
        contacts.run()
        assert _tile(contacts, "Conversations") == shown, language
    assert any(link.proto.query_string.startswith("language=") for link in languages.get("page_link"))


def _follow(link, sidebar_period=None) -> object:
    """The Conversations page opened at a drill-down link's address (its own period, channel, queue...)."""
    from urllib.parse import parse_qsl

    contacts = open_page(PAGE)
    if sidebar_period:
        contacts.session_state["period"] = sidebar_period
    for key, value in parse_qsl(link.proto.query_string):
        contacts.query_params[key] = value
    contacts.run()
    assert not contacts.exception, [e.value for e in contacts.exception]
    return contacts


def test_the_forecast_history_drills_down_to_its_contacts_outside_the_sidebar_period(use_built):
    """The forecast's actual line spans its own weeks, whatever the sidebar's period: the link carries them."""
    with _snapshot(use_built) as conn:
        last_day = conn.execute("select max(started_date) from marts.fct_conversation_summary").fetchone()[0]
    forecast = open_page("dashboards/pages/forecast.py")
    assert not forecast.exception, [e.value for e in forecast.exception]
    for queue in (None, forecast.selectbox[1].options[-1]):  # all queues, then one entry queue
        if queue is not None:
            forecast.selectbox[1].set_value(queue).run()
        link = next(link for link in forecast.get("page_link") if "contacts of the actual line" in link.proto.label)
        shown = int(link.proto.label.split()[1].replace(",", ""))
        assert shown > 0 and "since=" in link.proto.query_string and "channel=" in link.proto.query_string
        # the sidebar set to the last day only: the link's own weeks still apply
        contacts = _follow(link, sidebar_period=(last_day, last_day))
        assert _tile(contacts, "Conversations").replace(",", "") == str(shown), (queue, link.proto.query_string)


def test_a_product_of_the_knowledge_graph_drills_down_to_the_contacts_that_name_it(use_built):
    """The graph counts the whole snapshot: the link carries that scope past a narrow sidebar, and the list
    holds exactly the conversations whose text names the product (a recount from the turns)."""
    from warehouse.snapshot import current

    graph = open_page("dashboards/pages/knowledge_graph.py")
    assert not graph.exception, [e.value for e in graph.exception]
    link = next(link for link in graph.get("page_link") if "contacts that name" in link.proto.label)
    shown = int(link.proto.label.split()[1].replace(",", ""))
    product = dict(p.split("=", 1) for p in link.proto.query_string.split("&"))["product"]
    with duckdb.connect(str(current(use_built.settings.snapshot_dir).path), read_only=True) as conn:
        last_day, channel = conn.execute("select max(started_date), min(channel) "
                                         "from marts.fct_conversation_summary").fetchone()
        name_en, name_zh = conn.execute("select name, coalesce(name_zh, name) from marts.kg_nodes where node_id = ?",
                                        [f"product:{product}"]).fetchone()
        # Turns whose masked text names the product; a longer catalogue name holding this one aside.
        recount = conn.execute("""
            select count(distinct conversation_id) from marts.fct_turns
            where contains(lower(text), lower(?)) or contains(text, ?)""", [name_en, name_zh]).fetchone()[0]
    assert 0 < shown <= recount, (product, shown, recount)
    contacts = open_page(PAGE)
    contacts.session_state["period"] = (last_day, last_day)
    contacts.session_state["channels"] = [channel]
    from urllib.parse import parse_qsl

    for key, value in parse_qsl(link.proto.query_string):
        contacts.query_params[key] = value
    contacts.run()
    assert not contacts.exception, [e.value for e in contacts.exception]
    assert _tile(contacts, "Conversations").replace(",", "") == str(shown)


def test_the_contacts_the_intent_reading_escalates_drill_down_from_the_models_page(use_built):
    models = open_page("dashboards/pages/models.py")
    assert not models.exception, [e.value for e in models.exception]
    link = next(link for link in models.get("page_link") if "sends to a person" in link.proto.label)
    assert link.proto.query_string == "escalate=yes"
    shown = int(link.proto.label.split()[1].replace(",", ""))
    assert _tile(_follow(link), "Conversations").replace(",", "") == str(shown) != "0"


def test_the_offers_drill_down_to_their_contacts_under_the_same_bars(use_built):
    value = open_page("dashboards/pages/value.py")
    assert not value.exception, [e.value for e in value.exception]
    seen = []
    for lift in (None, "higher"):
        if lift:  # a stricter lift bar: fewer offers, and the list follows
            slider = value.slider(key="value_min_lift")
            slider.set_value(round(min(slider.max, 1.0 + (slider.max - 1.0) / 3), 1)).run()
        link = next((link for link in value.get("page_link") if "contacts with an offer" in link.proto.label), None)
        if link is None:  # no offer passes this bar: nothing to drill into
            break
        shown = int(link.proto.label.split()[1].replace(",", ""))
        assert "offer=yes" in link.proto.query_string and "queue=all" in link.proto.query_string
        assert _tile(_follow(link), "Conversations").replace(",", "") == str(shown), link.proto.query_string
        seen.append(shown)
    assert seen and seen[0] > 0 and (len(seen) == 1 or seen[1] <= seen[0]), seen
