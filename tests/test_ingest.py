"""Loading landing files: bad input is quarantined with file, line and reason; re-loads change nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.ingest import load_source
from warehouse.sources import SOURCE_BY_NAME

TURNS = SOURCE_BY_NAME["turns"]
CONVERSATIONS = SOURCE_BY_NAME["conversations"]
ORDERS = SOURCE_BY_NAME["orders"]


@pytest.fixture
def conn(tmp_path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


def write_turns(path: Path, rows: list[list], header=("conversation_id", "turn_index", "speaker", "ts", "text"),
                encoding="utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def quarantine(conn, source="turns"):
    return conn.execute("select source_file, line, reason from raw.quarantine where source = ? order by line",
                        [source]).fetchall()


def test_good_rows_load_and_bad_rows_are_quarantined_with_line_and_reason(conn, tmp_path):
    landing = tmp_path / "landing"
    write_turns(landing / "turns" / "turns_2026-01-01.csv", [
        ["CV1", 0, "agent", "2026-01-01 10:00:00", "Hello"],
        ["CV1", "three", "customer", "2026-01-01 10:00:05", "wrong type"],
        ["", 2, "customer", "2026-01-01 10:00:09", "missing id"],
        ["CV1", 3, "customer", "not a time", "bad timestamp"],
        ["CV1", 4, "robot", "2026-01-01 10:00:12", "unknown speaker"],
        ["CV1", 5, "customer", "2026-01-01 10:00:15", "line one\nline two, with \"quotes\""],
        ["CV1", 6, "customer", "2026-01-01 10:00:20"],
    ])
    report = load_source(conn, TURNS, landing)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (7, 2, 5)
    bad = quarantine(conn)
    assert [line for _, line, _ in bad] == [3, 4, 5, 6, 9]  # header is line 1; the quoted newline spans 7-8
    reasons = [reason for _, _, reason in bad]
    assert "turn_index: cannot read 'three' as INTEGER" in reasons[0]
    assert "conversation_id is required" in reasons[1]
    assert "ts: cannot read 'not a time' as TIMESTAMP" in reasons[2]
    assert "speaker must be" in reasons[3]
    assert "expected 5 fields, found 4" in reasons[4]
    assert all(f == "turns/turns_2026-01-01.csv" for f, _, _ in bad)
    texts = [r[0] for r in conn.execute("select text from raw.turns order by turn_index").fetchall()]
    assert texts == ["Hello", "line one\nline two, with \"quotes\""]


def test_loading_the_same_file_twice_adds_no_rows(conn, tmp_path):
    landing = tmp_path / "landing"
    write_turns(landing / "turns" / "a.csv", [["CV1", 0, "agent", "2026-01-01 10:00:00", "Hi"]])
    load_source(conn, TURNS, landing)
    again = load_source(conn, TURNS, landing)
    assert (again.files_skipped, again.rows_in) == (1, 0)
    # The same content under another name (a re-delivered export) is recognised too.
    (landing / "turns" / "a_copy.csv").write_bytes((landing / "turns" / "a.csv").read_bytes())
    third = load_source(conn, TURNS, landing)
    assert third.files_skipped == 2
    assert conn.execute("select count(*) from raw.turns").fetchone()[0] == 1
    assert conn.execute("select count(*) from raw._load_manifest").fetchone()[0] == 1


def test_a_corrected_file_replaces_its_earlier_rows(conn, tmp_path):
    landing = tmp_path / "landing"
    path = write_turns(landing / "turns" / "a.csv", [["CV1", 0, "agent", "2026-01-01 10:00:00", "Hi"],
                                                     ["CV1", "x", "agent", "2026-01-01 10:00:00", "bad"]])
    load_source(conn, TURNS, landing)
    write_turns(path, [["CV1", 0, "agent", "2026-01-01 10:00:00", "Hi"], ["CV1", 1, "agent", "2026-01-01 10:00:01", "ok"]])
    report = load_source(conn, TURNS, landing)
    assert report.files_replaced == 1
    assert conn.execute("select count(*) from raw.turns").fetchone()[0] == 2
    assert quarantine(conn) == []
    assert conn.execute("select count(*) from raw._load_manifest").fetchone()[0] == 1


def test_wrong_encoding_quarantines_every_line_with_a_clear_reason(conn, tmp_path):
    landing = tmp_path / "landing"
    write_turns(landing / "turns" / "legacy.csv", [["CV9", 0, "customer", "2026-01-01 08:00:00", "您好，订单还没到"],
                                                   ["CV9", 1, "customer", "2026-01-01 08:01:00", "谢谢"]],
                encoding="gb18030")
    report = load_source(conn, TURNS, landing)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (2, 0, 2)
    assert all("not valid UTF-8" in reason for _, _, reason in quarantine(conn))
    assert [line for _, line, _ in quarantine(conn)] == [2, 3]


def test_utf8_bom_empty_files_and_extra_columns_are_handled(conn, tmp_path):
    landing = tmp_path / "landing"
    (landing / "turns").mkdir(parents=True)
    (landing / "turns" / "bom.csv").write_bytes(
        "\ufeffconversation_id,turn_index,speaker,ts,text,channel_hint\nCV1,0,agent,2026-01-01 10:00:00,Hi,chat\n"
        .encode("utf-8"))
    (landing / "turns" / "empty.csv").write_bytes(b"")
    report = load_source(conn, TURNS, landing)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 0)
    notes = dict(conn.execute("select source_file, coalesce(note, status) from raw._load_manifest").fetchall())
    assert "channel_hint" in notes["turns/bom.csv"]
    assert notes["turns/empty.csv"] == "empty file"


def test_missing_required_column_quarantines_the_rows(conn, tmp_path):
    landing = tmp_path / "landing"
    write_turns(landing / "turns" / "a.csv", [["CV1", 0, "agent", "Hi"]],
                header=("conversation_id", "turn_index", "speaker", "text"))
    report = load_source(conn, TURNS, landing)
    assert report.rows_quarantined == 1
    assert "missing required column(s): ts" in quarantine(conn)[0][2]


def test_huge_fields_are_quarantined_not_loaded(conn, tmp_path):
    landing = tmp_path / "landing"
    write_turns(landing / "turns" / "a.csv", [["CV1", 0, "customer", "2026-01-01 10:00:00", "x" * 300_000],
                                              ["CV1", 1, "customer", "2026-01-01 10:00:01", "fine"]])
    report = load_source(conn, TURNS, landing, max_chars=100_000)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    reason = quarantine(conn)[0][2]
    assert "300000 characters exceed the 100000 limit" in reason
    kept = conn.execute("select length(raw_record) from raw.quarantine").fetchone()[0]
    assert kept <= 2_000


def test_broken_json_lines_are_quarantined_and_the_rest_loads(conn, tmp_path):
    landing = tmp_path / "landing"
    (landing / "conversations").mkdir(parents=True)
    good = {"conversation_id": "CV1", "channel": "chat", "started_at": "2026-01-01 10:00:00",
            "customer_id": "C1", "queue_id": "Q_general", "transfer_count": 0}
    lines = [json.dumps(good), '{"conversation_id": "CV2", "channel": "ch', "[1, 2, 3]", "",
             json.dumps({**good, "conversation_id": "CV3", "transfer_count": {"nested": True}}),
             json.dumps({**good, "conversation_id": "CV4", "channel": "fax"})]
    (landing / "conversations" / "c.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = load_source(conn, CONVERSATIONS, landing)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (5, 1, 4)
    reasons = {line: reason for _, line, reason in quarantine(conn, "conversations")}
    assert reasons[2].startswith("invalid JSON")
    assert "expected a JSON object" in reasons[3]
    assert "transfer_count: cannot read" in reasons[5]
    assert "channel must be chat, phone, email or social" in reasons[6]


def test_parquet_with_wrong_types_and_unreadable_parquet(conn, tmp_path):
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    pq.write_table(pa.table({"order_id": ["O1", "O2"], "line_number": ["1", "one"], "customer_id": ["C1", "C1"],
                             "ordered_at": ["2026-01-01 10:00:00", "2026-01-01 10:00:00"],
                             "product_id": ["P001", "P002"], "quantity": [1, 2], "unit_price": [9.5, 3.0]}),
                   landing / "orders" / "o.parquet")
    (landing / "orders" / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (landing / "orders" / "notes.txt").write_text("someone dropped a note here")
    report = load_source(conn, ORDERS, landing)
    assert report.rows_loaded == 1
    reasons = [r for _, _, r in quarantine(conn, "orders")]
    assert any("line_number: cannot read 'one' as INTEGER" in r for r in reasons)
    assert any(r.startswith("unreadable Parquet file") for r in reasons)
    assert any("unsupported file type '.txt'" in r for r in reasons)
    assert report.rows_in == report.rows_loaded + report.rows_quarantined


def test_injection_strings_load_as_inert_text(conn, tmp_path):
    landing = tmp_path / "landing"
    evil = "'); drop table raw.turns; -- <script>alert(1)</script>"
    write_turns(landing / "turns" / "a.csv", [["CV1", 0, "customer", "2026-01-01 10:00:00", evil]])
    load_source(conn, TURNS, landing)
    assert conn.execute("select text from raw.turns").fetchone()[0] == evil


def test_numbers_are_not_silently_rounded(conn, tmp_path):
    landing = tmp_path / "landing"
    (landing / "surveys").mkdir(parents=True)
    (landing / "surveys" / "s.csv").write_text(
        "survey_id,conversation_id,responded_at,csat,nps\nS1,CV1,2026-01-01 10:00:00,4.5,9\n"
        "S2,CV2,2026-01-01 10:00:00,4,+9\n")
    report = load_source(conn, SOURCE_BY_NAME["surveys"], landing)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    assert "csat: cannot read '4.5' as INTEGER" in quarantine(conn, "surveys")[0][2]


def test_timestamps_with_a_zone_are_converted_to_local_time(conn, tmp_path):
    landing = tmp_path / "landing"
    write_turns(landing / "turns" / "a.csv", [["CV1", 0, "agent", "2026-01-01T02:00:00Z", "utc"],
                                              ["CV1", 1, "agent", "2026-01-01T10:00:00+08:00", "shanghai"],
                                              ["CV1", 2, "agent", "2026-01-01 10:00:00", "naive local"]])
    load_source(conn, TURNS, landing, timezone="Asia/Shanghai")
    times = {r[0]: str(r[1]) for r in conn.execute("select text, ts from raw.turns").fetchall()}
    assert times == {"utc": "2026-01-01 10:00:00", "shanghai": "2026-01-01 10:00:00",
                     "naive local": "2026-01-01 10:00:00"}


def test_export_time_formats_are_read_and_ambiguous_or_future_ones_quarantined(conn, tmp_path):
    landing = tmp_path / "landing"
    from datetime import datetime, timedelta

    far = datetime.now() + timedelta(days=5 * 365)
    forms = {"slashes": "2026/01/01 10:00", "epoch": "1767232800", "epoch ms": "1767232800000",
             "e-mail": "Thu, 01 Jan 2026 10:00:00 +0800", "e-mail gmt": "Thu, 01 Jan 2026 02:00:00 GMT",
             "named zone": "2026-01-01 02:00:00 UTC", "date only": "2026-01-01",
             "day first": "01/02/2026 10:00", "far future": far.strftime("%Y-%m-%d %H:%M:%S"),
             "placeholder": "epoch", "minus infinity": "-infinity",
             "tomorrow morning": (datetime.now() + timedelta(hours=20)).strftime("%Y-%m-%d %H:%M:%S")}
    write_turns(landing / "turns" / "a.csv", [["CV1", i, "agent", ts, name] for i, (name, ts) in enumerate(forms.items())])
    report = load_source(conn, TURNS, landing, timezone="Asia/Shanghai", future_hours=24 + 8)
    times = {r[0]: str(r[1]) for r in conn.execute("select text, ts from raw.turns").fetchall()}
    assert {k: v for k, v in times.items() if k != "tomorrow morning"} == {
        "slashes": "2026-01-01 10:00:00", "epoch": "2026-01-01 10:00:00", "epoch ms": "2026-01-01 10:00:00",
        "e-mail": "2026-01-01 10:00:00", "e-mail gmt": "2026-01-01 10:00:00", "named zone": "2026-01-01 10:00:00",
        "date only": "2026-01-01 00:00:00"}  # a bare date is local midnight, whatever the host's zone
    assert "tomorrow morning" in times  # within the tolerance (clock skew, zones)
    reasons = [r for _, _, r in quarantine(conn)]
    assert reasons == ["ts: cannot read '01/02/2026 10:00' as TIMESTAMP",
                       f"ts: {far:%Y-%m-%d %H:%M} is in the future (more than 32 h after loading)",
                       "ts: 1970-01-01 00:00 is not a plausible event time",
                       "ts: -infinity is not a plausible event time"]
    assert report.rows_in == report.rows_loaded + report.rows_quarantined == len(forms)


def test_an_unbalanced_quote_does_not_swallow_the_rest_of_the_file(conn, tmp_path):
    landing = tmp_path / "landing"
    (landing / "turns").mkdir(parents=True)
    good = "".join(f"CV1,{i},agent,2026-01-01 10:00:00,line {i}\n" for i in range(2, 400))
    (landing / "turns" / "a.csv").write_text(
        "conversation_id,turn_index,speaker,ts,text\n" 'CV1,1,agent,2026-01-01 10:00:00,"never closed\n' + good
        + 'CV1,400,agent,2026-01-01 10:00:00,"quoted"then text\nCV1,401,agent,2026-01-01 10:00:00,last\n')
    report = load_source(conn, TURNS, landing)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (401, 399, 2)
    assert [line for _, line, _ in quarantine(conn)] == [2, 401]
    assert all("malformed CSV record" in reason for _, _, reason in quarantine(conn))


def test_json_strings_may_hold_unicode_line_separators(conn, tmp_path):
    landing = tmp_path / "landing"
    (landing / "conversations").mkdir(parents=True)
    record = {"conversation_id": "CV1", "channel": "chat", "started_at": "2026-01-01 10:00:00",
              "customer_id": "C1", "queue_id": "Q\u2028general\u0085x"}
    (landing / "conversations" / "c.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    report = load_source(conn, CONVERSATIONS, landing)
    assert (report.rows_in, report.rows_loaded) == (1, 1)


def test_a_rejected_file_renamed_to_the_right_type_is_read(conn, tmp_path):
    landing = tmp_path / "landing"
    path = write_turns(landing / "turns" / "a.txt", [["CV1", 0, "agent", "2026-01-01 10:00:00", "Hi"]])
    first = load_source(conn, TURNS, landing)
    assert (first.rows_loaded, first.rows_quarantined) == (0, 1)
    path.rename(landing / "turns" / "a.csv")
    second = load_source(conn, TURNS, landing)
    assert second.rows_loaded == 1


def test_a_column_added_to_the_contract_is_added_to_the_table(conn, tmp_path):
    from dataclasses import replace

    from warehouse.sources import Column

    landing = tmp_path / "landing"
    write_turns(landing / "turns" / "a.csv", [["CV1", 0, "agent", "2026-01-01 10:00:00", "Hi"]])
    load_source(conn, TURNS, landing)
    wider = replace(TURNS, columns=TURNS.columns + (Column("sentiment_hint"),))
    write_turns(landing / "turns" / "b.csv", [["CV2", 0, "agent", "2026-01-01 10:00:00", "Hi", "calm"]],
                header=("conversation_id", "turn_index", "speaker", "ts", "text", "sentiment_hint"))
    load_source(conn, wider, landing)
    assert conn.execute("select list(sentiment_hint order by conversation_id) from raw.turns").fetchone()[0] == [None, "calm"]


def test_files_in_unknown_folders_are_reported_once(conn, tmp_path):
    from warehouse.ingest import quarantine_unrouted

    landing = tmp_path / "landing"
    write_turns(landing / "Turns" / "a.csv", [["CV1", 0, "agent", "2026-01-01 10:00:00", "Hi"]])
    (landing / "stray.csv").write_text("x")
    assert quarantine_unrouted(conn, landing) == 2
    assert quarantine_unrouted(conn, landing) == 0
    reasons = [r[2] for r in quarantine(conn, "_unrouted")]
    assert any("folder 'Turns' is not a known source" in r for r in reasons)


def test_the_hostile_corpus_loads_as_its_expectations_say(conn, tmp_path):
    """Loader-level check of tests/hostile_corpus.py (the end-to-end run is in test_hostile_input.py)."""
    from sample_data.core import GeneratorConfig
    from sample_data.writer import generate
    from warehouse.ingest import quarantine_unrouted
    from warehouse.sources import SOURCES
    from tests.hostile_corpus import write_hostile_corpus

    landing = tmp_path / "landing"
    generate(GeneratorConfig(conversations=30, days=2, bad_row_rate=0.0), landing, tmp_path / "truth", progress=False)
    corpus = write_hostile_corpus(landing, "2026-10-31")
    for spec in SOURCES:
        load_source(conn, spec, landing)
    assert quarantine_unrouted(conn, landing) == len(corpus.unrouted)
    manifest = {r[0]: r[1:] for r in conn.execute(
        "select source_file, rows_in, rows_loaded, rows_quarantined from raw._load_manifest").fetchall()}
    lines = {}
    for rel, line, reason in conn.execute("select source_file, line, reason from raw.quarantine").fetchall():
        lines.setdefault(rel, {})[line] = reason
    for rel, e in corpus.files.items():
        assert manifest[rel] == (e.rows_in, e.loaded, e.quarantined), rel
        got = lines.get(rel, {})
        assert set(got) == set(e.reasons), (rel, got)
        assert all(part in got[line] for line, part in e.reasons.items()), (rel, got)


def test_files_untouched_since_loading_are_not_read_again(conn, tmp_path, monkeypatch):
    import os

    import warehouse.ingest as ingest

    landing = tmp_path / "landing"
    a = write_turns(landing / "turns" / "turns_2026-01-01.csv", [["CV1", 0, "agent", "2026-01-01 10:00:00", "Hi"]])
    write_turns(landing / "turns" / "turns_2026-01-02.csv", [["CV2", 0, "agent", "2026-01-02 10:00:00", "Yo"]])
    load_source(conn, TURNS, landing)
    hashed = []
    real = ingest.sha256_of
    monkeypatch.setattr(ingest, "sha256_of", lambda p, identity=None: hashed.append(p.name) or real(p, identity))
    again = load_source(conn, TURNS, landing)
    assert (again.files_skipped, hashed) == (2, [])  # same size and mtime: not even hashed
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))  # touched, same content
    third = load_source(conn, TURNS, landing)
    assert (third.files_skipped, hashed) == (2, ["turns_2026-01-01.csv"])
    load_source(conn, TURNS, landing)
    assert hashed == ["turns_2026-01-01.csv"]  # its new stat was remembered
    write_turns(a, [["CV1", 0, "agent", "2026-01-01 10:00:00", "Hello again"]])  # corrected: read and replaced
    load_source(conn, TURNS, landing)
    assert conn.execute("select text from raw.turns where conversation_id = 'CV1'").fetchall() == [("Hello again",)]


def test_survey_answers_load_per_question_and_bad_rows_are_quarantined_with_their_reason(conn, tmp_path):
    """The per-question survey contract: a scale, a sent time, an answer or none; broken rows wait with a reason."""
    landing = tmp_path / "landing"
    (landing / "survey_answers").mkdir(parents=True)
    header = ("survey_id,conversation_id,survey_name,question_id,question,measure,scale_min,scale_max,sent_at,"
              "answered_at,answer_value,answer_text\n")
    rows = [
        "P1,CV1,post_contact,q_csat,How satisfied?,csat,1,5,2026-01-01 10:00:00,2026-01-01 11:00:00,4,",
        "P1,CV1,post_contact,q_comment,Anything else?,other,,,2026-01-01 10:00:00,2026-01-01 11:00:00,,Slow but fine",
        "P2,CV2,post_contact,q_csat,How satisfied?,csat,1,5,2026-01-01 10:00:00,,,",  # sent, not answered
        "P3,CV3,post_contact,q_csat,How satisfied?,csat,1,5,2026-01-01 10:00:00,2026-01-01 11:00:00,6,",
        "P4,CV4,post_contact,q_csat,How satisfied?,stars,1,5,2026-01-01 10:00:00,2026-01-01 11:00:00,3,",
        "P5,CV5,post_contact,q_csat,How satisfied?,csat,1,5,2026-01-01 10:00:00,2026-01-01 09:00:00,3,",
        "P6,CV6,post_contact,,How satisfied?,csat,1,5,2026-01-01 10:00:00,2026-01-01 11:00:00,3,",
        "P7,CV7,post_contact,q_csat,How satisfied?,csat,5,1,2026-01-01 10:00:00,2026-01-01 11:00:00,3,",
        "P8,CV8,post_contact,q_csat,How satisfied?,csat,1,5,2026-01-01 10:00:00,2026-01-01 11:00:00,four,",
    ]
    (landing / "survey_answers" / "a.csv").write_text(header + "\n".join(rows) + "\n")
    report = load_source(conn, SOURCE_BY_NAME["survey_answers"], landing)
    assert (report.rows_loaded, report.rows_quarantined) == (3, 6)  # every row read is accounted for
    reasons = " | ".join(r[2] for r in quarantine(conn, "survey_answers"))
    for expected in ("answer_value is outside the scale", "measure must be csat, nps, ces or other",
                     "answered_at is before sent_at", "question_id", "scale_max is not above scale_min",
                     "answer_value: cannot read 'four' as DOUBLE"):
        assert expected in reasons, expected
    loaded = conn.execute("select survey_id, question_id, answer_value, answer_text from raw.survey_answers "
                          "order by survey_id, question_id").fetchall()
    assert loaded == [("P1", "q_comment", None, "Slow but fine"), ("P1", "q_csat", 4.0, ""), ("P2", "q_csat", None, "")]
