"""Importers: exports in their public shapes become landing files, bad rows are counted with reasons, twice is once.

The twcs fixture below is written by hand in the shape of the public "Customer Support on Twitter"
CSV, with its awkward parts: a float reply id, a thread whose first tweet is missing, HTML entities,
a signed reply, an unanswered tweet, a deleted author, an unreadable time, a tweet in two exports.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from unittest import mock

import duckdb
import pytest

from service_insight.settings import PROJECT_ROOT
from warehouse.importers.twcs import ImportFailed, import_twcs, parse_time, pseudonym

HEADER = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
EXPORT_1 = HEADER + "\n".join([
    # A thread: customer, signed reply (float parent id), customer again, reply.
    '1,115712,True,Tue Oct 31 22:10:47 +0000 2017,"@sprintcare my bill doubled &amp; nobody answers",2,',
    '2,sprintcare,False,Tue Oct 31 22:11:45 +0000 2017,"@115712 Sorry to hear that! Please DM us your account. ^JK",3,1.0',
    '3,115712,True,Tue Oct 31 22:20:00 +0000 2017,@sprintcare done,4,2',
    '4,sprintcare,False,Tue Oct 31 22:25:10 +0000 2017,@115712 Thanks - we fixed the charge -AB,,3',
    # A thread whose first tweet (10) is not in the export.
    '11,AppleSupport,False,Wed Nov 01 08:00:00 +0000 2017,@220044 Which iOS version are you on?,12,10',
    '12,220044,True,Wed Nov 01 08:05:00 +0000 2017,@AppleSupport 11.1 on an iPhone 7,,11',
    # Unanswered, mentioning a brand that answers elsewhere.
    '20,330055,True,2017-11-02T09:00:00+01:00,@AppleSupport battery drains overnight,,',
    # Bad rows: deleted author, unreadable time, no time zone, no id.
    '30,,True,Thu Nov 02 10:00:00 +0000 2017,hello,,',
    '31,440066,True,yesterday,hello,,',
    '32,440066,True,2017-11-02 10:00:00,hello,,',
    'abc,440066,True,Thu Nov 02 10:00:00 +0000 2017,hello,,',
    # Old thread, for --since.
    '40,550077,True,Sun Jan 01 10:00:00 +0000 2017,@sprintcare happy new year,,',
]) + "\n"
EXPORT_2 = HEADER + "\n".join([
    '12,220044,True,Wed Nov 01 08:05:00 +0000 2017,@AppleSupport 11.1 on an iPhone 7,,11',  # also in export 1
    '13,AppleSupport,False,Wed Nov 01 08:09:00 +0000 2017,@220044 Update to 11.1.1 - that fixes it.,,12',
]) + "\n"


@pytest.fixture
def exports(tmp_path):
    first, second = tmp_path / "twcs_part1.csv", tmp_path / "twcs_part2.csv"
    first.write_text(EXPORT_1, encoding="utf-8")
    second.write_text(EXPORT_2, encoding="utf-8")
    return first, second


def _rows(path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _landing(landing, kind, prefix="twcs_"):
    return [row for path in sorted((landing / kind).glob(f"{prefix}*")) for row in _rows(path)]


def test_twcs_threads_become_social_conversations_with_pseudonymous_customers(exports, tmp_path):
    landing = tmp_path / "landing"
    report = import_twcs(exports, landing, key="k" * 64, rejects_dir=tmp_path / "imports")
    assert report.rows_read == 14 and report.tweets == 9 and report.duplicates == 1 and report.reconciles()
    assert report.rejected == {"author_id missing (a deleted user?)": 1, "tweet_id missing or not a number": 1,
                               "created_at unreadable or without a time zone": 2}
    assert report.threads == 4 and report.threads_missing_first_tweet == 1
    conversations = {c["conversation_id"]: c for c in _landing(landing, "conversations")}
    assert set(conversations) == {"TW1", "TW11", "TW20", "TW40"}
    bill = conversations["TW1"]
    assert bill["channel"] == "social" and bill["queue_id"] == "social:sprintcare"
    assert bill["agent_id"] == "sprintcare/AB"  # the last signed reply
    assert bill["started_at"] == "2017-10-31T22:10:47Z" and bill["ended_at"] == "2017-10-31T22:25:10Z"
    assert bill["customer_id"] == pseudonym("115712", "k" * 64) and bill["disposition"] is None
    assert bill["handle_seconds"] is None  # not in the format: empty, not invented
    assert conversations["TW11"]["agent_id"] is None and conversations["TW11"]["queue_id"] == "social:AppleSupport"
    assert conversations["TW20"]["queue_id"] == "social:AppleSupport"  # unanswered: the brand it mentions
    assert conversations["TW20"]["started_at"] == "2017-11-02T08:00:00Z"  # +01:00 converted once, to UTC
    turns = [t for t in _landing(landing, "turns") if t["conversation_id"] == "TW1"]
    assert [t["speaker"] for t in turns] == ["customer", "agent", "customer", "agent"]
    assert turns[0]["text"] == "@sprintcare my bill doubled & nobody answers"  # HTML entity decoded
    assert "115712" not in " ".join(t["text"] for t in _landing(landing, "turns"))  # handles are pseudonyms
    assert f"@{pseudonym('115712', 'k' * 64)} Sorry" in turns[1]["text"]
    apple = [t["turn_index"] for t in _landing(landing, "turns") if t["conversation_id"] == "TW11"]
    assert apple == ["0", "1", "2"]  # the duplicate tweet once; the second export's reply joins the thread
    customers = _landing(landing, "customers")
    assert len(customers) == 4 and all(set(c) == {"customer_id"} for c in customers)
    rejects = _rows(tmp_path / "imports" / next((tmp_path / "imports").iterdir()).name)
    assert {r["reason"] for r in rejects} == set(report.rejected)


def test_twcs_import_twice_changes_nothing_and_since_skips_old_threads(exports, tmp_path):
    landing = tmp_path / "landing"
    first = import_twcs(exports, landing, key="k" * 64)
    files = {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()}
    again = import_twcs(list(reversed(exports)), landing, key="k" * 64)
    assert again.files_written == 0 and again.files_unchanged == first.files_written
    assert {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()} == files
    recent = import_twcs(exports, tmp_path / "recent", key="k" * 64, since=parse_time("2017-06-01T00:00:00Z").date())
    assert recent.threads_before_since == 1 and recent.threads == 3


def test_twcs_files_load_through_the_landing_contract_without_quarantine(exports, tmp_path):
    from warehouse.ingest import load_source
    from warehouse.sources import SOURCES

    landing = tmp_path / "landing"
    import_twcs(exports, landing, key="k" * 64)
    specs = {spec.name: spec for spec in SOURCES}
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        for name in ("conversations", "turns", "customers"):
            report = load_source(conn, specs[name], landing, timezone="Europe/Berlin")
            assert report.rows_quarantined == 0 and report.rows_loaded > 0, (name, report)
        started = conn.execute("select strftime(started_at, '%Y-%m-%d %H:%M') from raw.conversations "
                               "where conversation_id = 'TW20'").fetchone()[0]
    assert started == "2017-11-02 09:00"  # 08:00 UTC, shown in the configured business zone


def test_a_file_that_is_not_a_twcs_export_is_refused_whole(tmp_path):
    wrong = tmp_path / "tickets.csv"
    wrong.write_text("id,subject\n1,hello\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="columns tweet_id, author_id, inbound, created_at, text are missing"):
        import_twcs([wrong], tmp_path / "landing", key="k")
    assert not (tmp_path / "landing").exists()


def test_the_import_command_prints_a_summary_and_json(exports, tmp_path):
    env = {"SI_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "service_insight.cli", "import", "twcs", *map(str, exports),
                           "--json"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["written"] == {"conversations": 4, "turns": 9, "customers": 4} and summary["reconciles"]
    assert summary["rejects_file"].startswith(str(tmp_path / "data" / "imports"))
    text = subprocess.run([sys.executable, "-m", "service_insight.cli", "import", "twcs", str(exports[0])],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "rejected 2: created_at unreadable or without a time zone" in text.stdout
    assert "not in this format (left empty, never invented): disposition" in text.stdout
    bad = subprocess.run([sys.executable, "-m", "service_insight.cli", "import", "twcs", str(tmp_path / "nope.csv")],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no such file" in bad.stderr


# ---- any CSV / JSONL with a TOML mapping --------------------------------------------------------

TICKETS_CSV = """Ticket ID,Created,Closed,Requester,Group,Assignee,Via
T-100,31/10/2026 09:15,31/10/2026 10:00,cust-1,Billing,agent-7,mail
T-101,31/10/2026 23:30,,cust-2,Returns,,
T-102,,01/11/2026 08:00,cust-3,Billing,agent-7,mail
T-103,2026-11-01 08:00,,cust-4,Billing,,mail
"""
MESSAGES_JSONL = "\n".join([
    json.dumps({"ticket": "T-100", "seq": 0, "who": "customer", "at": "31/10/2026 09:15", "body": "Invoice wrong"}),
    json.dumps({"ticket": "T-100", "seq": 1, "who": "agent", "at": "31/10/2026 09:40", "body": "Fixed it"}),
    "not json at all",
    json.dumps({"ticket": "T-101", "seq": 0, "who": "customer", "at": "31/10/2026 23:30", "body": ""}),
]) + "\n"
TICKETS_MAPPING = """time_format = "%d/%m/%Y %H:%M"
timezone = "Europe/Berlin"

[[output]]
source = "conversations"
[output.columns]
conversation_id = "Ticket ID"
started_at = "Created"
ended_at = "Closed"
customer_id = "Requester"
queue_id = "Group"
agent_id = "Assignee"
channel = "Via"
[output.defaults]
channel = "email"
[output.values.channel]
mail = "email"
"""
MESSAGES_MAPPING = """time_format = "%d/%m/%Y %H:%M"
timezone = "Europe/Berlin"

[[output]]
source = "turns"
columns = { conversation_id = "ticket", turn_index = "seq", speaker = "who", ts = "at", text = "body" }
"""


@pytest.fixture
def mapped_exports(tmp_path):
    files = {"tickets.csv": TICKETS_CSV, "tickets.toml": TICKETS_MAPPING, "messages.jsonl": MESSAGES_JSONL,
             "messages.toml": MESSAGES_MAPPING}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_mapping_turns_any_export_into_landing_files_with_reasons_for_what_it_cannot(mapped_exports, tmp_path):
    from warehouse.importers.mapped import import_mapped

    landing = tmp_path / "landing"
    tickets, mapping = import_mapped([mapped_exports / "tickets.csv"], mapped_exports / "tickets.toml", landing)
    assert tickets.rows_read == 4 and tickets.written == {"conversations": 2} and tickets.reconciles(1)
    assert tickets.rejected == {"conversations.started_at (column 'Created') is empty": 1,
                                "started_at (column 'Created'): '2026-11-01 08:00' does not match time format "
                                "'%d/%m/%Y %H:%M'": 1}
    rows = {r["conversation_id"]: r for r in _rows(next((landing / "conversations").iterdir()))}
    assert rows["T-100"]["started_at"] == "2026-10-31 09:15:00+01:00"  # day-first, Berlin winter time
    assert rows["T-100"]["channel"] == "email"  # the export's "mail", in the contract's word
    assert rows["T-101"]["channel"] == "email"  # an empty cell: the default
    assert rows["T-101"]["agent_id"] is None and rows["T-101"]["ended_at"] is None  # not in the export: empty
    messages, _ = import_mapped([mapped_exports / "messages.jsonl"], mapped_exports / "messages.toml", landing)
    assert messages.written == {"turns": 2} and messages.reconciles(1)
    assert messages.rejected == {"turns: a line that is not a JSON object": 1,
                                 "turns.text (column 'body') is empty": 1}
    again, _ = import_mapped([mapped_exports / "tickets.csv"], mapped_exports / "tickets.toml", landing)
    assert again.files_written == 0 and again.files_unchanged == 1
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        from warehouse.ingest import load_source
        from warehouse.sources import SOURCES

        specs = {spec.name: spec for spec in SOURCES}
        for name in ("conversations", "turns"):
            loaded = load_source(conn, specs[name], landing, timezone="UTC")
            assert loaded.rows_loaded == 2 and loaded.rows_quarantined == 0, (name, loaded)
        started = conn.execute("select strftime(started_at, '%H:%M') from raw.conversations "
                               "where conversation_id = 'T-100'").fetchone()[0]
    assert started == "08:15"  # 09:15 in Berlin is 08:15 UTC: converted once, by the loader


@pytest.mark.parametrize("mapping, message", [
    ('[[output]]\nsource = "tickets"\n', "'tickets' is not a landing source"),
    ('[[output]]\nsource = "conversations"\ncolumns = { conversation_id = "id", colour = "c" }\n',
     "'colour' is not a field of conversations"),
    ('[[output]]\nsource = "conversations"\ncolumns = { conversation_id = "Ticket ID" }\n',
     "conversations needs channel, started_at, customer_id, queue_id"),
    ('[[output]]\nsource = "orders"\ncolumns = { order_id = "id" }\n', "lands as typed Parquet"),
    ('timezone = "Mars/Olympus"\n[[output]]\nsource = "conversations"\n', "not an IANA time zone"),
    ('time_format = "%d"\n', "has no [[output]] table"),
    ("[[output]\n", "cannot be read as TOML"),
])
def test_a_wrong_mapping_is_refused_before_any_row_is_read(mapped_exports, tmp_path, mapping, message):
    from warehouse.importers.mapped import import_mapped

    (tmp_path / "bad.toml").write_text(mapping, encoding="utf-8")
    with pytest.raises(ImportFailed, match=message.replace("[", r"\[").replace("(", r"\(")):
        import_mapped([mapped_exports / "tickets.csv"], tmp_path / "bad.toml", tmp_path / "landing")
    assert not (tmp_path / "landing").exists()


def test_a_mapping_naming_columns_the_file_lacks_is_refused(mapped_exports, tmp_path):
    from warehouse.importers.mapped import import_mapped

    wrong = TICKETS_MAPPING.replace('"Requester"', '"Customer"')
    (tmp_path / "wrong.toml").write_text(wrong, encoding="utf-8")
    with pytest.raises(ImportFailed, match="names column\\(s\\) Customer, which the file does not have"):
        import_mapped([mapped_exports / "tickets.csv"], tmp_path / "wrong.toml", tmp_path / "landing")


def test_the_import_command_reads_a_mapping(mapped_exports, tmp_path):
    env = {"SI_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    base = [sys.executable, "-m", "service_insight.cli", "import", "csv", str(mapped_exports / "tickets.csv")]
    unmapped = subprocess.run(base, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert unmapped.returncode == 2 and "needs --mapping" in unmapped.stderr
    done = subprocess.run([*base, "--mapping", str(mapped_exports / "tickets.toml"), "--json"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["written"] == {"conversations": 2} and sum(summary["rejected"].values()) == 2
    assert summary["reconciles"] and list((tmp_path / "data" / "landing" / "conversations").glob("mapped_tickets_*"))


# ---- Zendesk ticket exports ---------------------------------------------------------------------

def _zendesk_ticket(ticket_id, updated="2026-10-02T10:00:00Z", **extra):
    ticket = {"id": ticket_id, "created_at": "2026-10-01T08:00:00Z", "updated_at": updated, "status": "solved",
              "requester_id": 501, "assignee_id": 900, "group_id": 77, "via": {"channel": "email"},
              "tags": ["billing"], "satisfaction_rating": {"score": "good"},
              "comments": [
                  {"id": 1, "author_id": 501, "public": True, "created_at": "2026-10-01T08:00:00Z",
                   "body": "My invoice is wrong &amp; late"},
                  {"id": 2, "author_id": 900, "public": False, "created_at": "2026-10-01T08:30:00Z",
                   "body": "internal: check the billing run"},
                  {"id": 3, "author_id": 900, "public": True, "created_at": "2026-10-01T09:00:00Z",
                   "html_body": "<p>Sorry about that.</p><p>Fixed &mdash; see your <b>account</b>.</p>"},
              ]}
    ticket.update(extra)
    return json.dumps(ticket)


ZENDESK_EXPORT = "\n".join([
    _zendesk_ticket(1, updated="2026-10-01T09:00:00Z", status="open"),  # an older copy of ticket 1
    _zendesk_ticket(1),
    _zendesk_ticket(2, via={"channel": "voice"}, group_id=None, assignee_id=None, status="pending",
                    satisfaction_rating={"score": "offered"}, comments=[]),
    _zendesk_ticket(3, via={"channel": "carrier_pigeon"}, satisfaction_rating={"score": "bad"}),
    json.dumps({"ticket": json.loads(_zendesk_ticket(4, via={"channel": "twitter"}))}),  # wrapped as the API does
    _zendesk_ticket(5, requester_id=None),  # a deleted user
    _zendesk_ticket(6, created_at="2026-10-01 08:00"),  # no zone
    "{not json",
]) + "\n"


def test_zendesk_tickets_become_conversations_turns_and_surveys(tmp_path):
    from warehouse.importers.zendesk import import_zendesk

    export = tmp_path / "tickets.jsonl"
    export.write_text(ZENDESK_EXPORT, encoding="utf-8")
    landing = tmp_path / "landing"
    report = import_zendesk([export], landing)
    assert report.lines_read == 8 and report.tickets == 4 and report.older_versions == 1 and report.reconciles()
    assert report.rejected == {"ticket without a requester (a deleted user?)": 1,
                               "created_at missing or without a time zone": 1, "not JSON": 1}
    assert report.channels_unknown == {"carrier_pigeon": 1} and report.private_notes == 3
    conversations = {c["conversation_id"]: c for c in _landing(landing, "conversations", "zendesk_")}
    assert set(conversations) == {"ZD1", "ZD2", "ZD3", "ZD4"}
    one = conversations["ZD1"]
    assert (one["channel"], one["queue_id"], one["agent_id"], one["disposition"]) == (
        "email", "zendesk:group:77", "zendesk:user:900", "resolved")  # the latest copy: solved
    assert one["started_at"] == "2026-10-01T08:00:00Z" and one["ended_at"] == "2026-10-01T09:00:00Z"
    assert conversations["ZD2"]["channel"] == "phone" and conversations["ZD2"]["queue_id"] == "zendesk:no-group"
    assert conversations["ZD2"]["disposition"] == "follow_up" and conversations["ZD2"]["agent_id"] is None
    assert conversations["ZD3"]["channel"] == "email" and conversations["ZD4"]["channel"] == "social"
    turns = [t for t in _landing(landing, "turns", "zendesk_") if t["conversation_id"] == "ZD1"]
    assert [(t["speaker"], t["text"]) for t in turns] == [
        ("customer", "My invoice is wrong & late"), ("agent", "Sorry about that.\nFixed — see your account.")]
    assert "internal" not in " ".join(t["text"] for t in _landing(landing, "turns", "zendesk_"))  # private notes stay out
    surveys = {s["conversation_id"]: s["csat"] for s in _landing(landing, "surveys", "zendesk_")}
    assert surveys == {"ZD1": "5", "ZD3": "1", "ZD4": "5"}  # "offered" is not an answer
    assert import_zendesk([export], landing).files_written == 0  # twice is once
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        from warehouse.ingest import load_source
        from warehouse.sources import SOURCES

        for spec in SOURCES:
            if spec.name in ("conversations", "turns", "customers", "surveys"):
                loaded = load_source(conn, spec, landing, timezone="UTC")
                assert loaded.rows_quarantined == 0 and loaded.rows_loaded > 0, (spec.name, loaded)


# ---- Amazon Connect contact records + Contact Lens ------------------------------------------------

def _ctr(contact_id, start, channel="VOICE", queue="Billing", agent="jdoe", **extra):
    record = {"ContactId": contact_id, "Channel": channel, "InitiationMethod": "INBOUND",
              "InitiationTimestamp": start, "DisconnectTimestamp": extra.pop("end", None),
              "Queue": {"Name": queue, "Duration": 42} if queue else None,
              "Agent": {"Username": agent, "ConnectedToAgentTimestamp": extra.pop("connected", start),
                        "AgentInteractionDuration": 300, "CustomerHoldDuration": 20,
                        "AfterContactWorkDuration": 40} if agent else None,
              "CustomerEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": "+12065550100"},
              "Recording": {"Location": f"s3://calls/{contact_id}.wav"}}
    record.update(extra)
    return record


CONNECT_RECORDS = "".join(json.dumps(r) for r in [  # back to back, as Firehose delivers them
    _ctr("c-1", "2026-10-01T08:00:00Z", end="2026-10-01T08:06:00Z", connected="2026-10-01T08:00:42Z",
         NextContactId="c-2"),
    _ctr("c-2", "2026-10-01T08:06:00Z", queue="Retention", agent="asmith", end="2026-10-01T08:12:00Z",
         PreviousContactId="c-1", InitiationMethod="TRANSFER"),
    _ctr("c-3", "2026-10-01T09:00:00Z", agent=None, end="2026-10-01T09:01:00Z"),  # hung up in the queue
    _ctr("c-4", "2026-10-01T10:00:00Z", channel="CHAT", queue="Chat"),
    _ctr("c-5", "2026-10-01T11:00:00Z", channel="TASK"),
    _ctr("c-1", "2026-10-01T08:00:00Z"),  # delivered twice
    _ctr("", "2026-10-01T12:00:00Z"),
    _ctr("c-6", "yesterday"),
]) + "\n{broken\n"
CONTACT_LENS = {
    "CustomerMetadata": {"ContactId": "c-1"}, "LanguageCode": "en-US",
    "Participants": [{"ParticipantId": "A", "ParticipantRole": "AGENT"},
                     {"ParticipantId": "C", "ParticipantRole": "CUSTOMER"}],
    "Transcript": [
        {"ParticipantId": "C", "BeginOffsetMillis": 5000, "Content": "My bill doubled", "Sentiment": "NEGATIVE"},
        {"ParticipantId": "A", "BeginOffsetMillis": 1000, "Content": "Thanks for calling", "Sentiment": "NEUTRAL"},
    ],
}


def test_connect_records_become_calls_and_one_conversation_per_transfer_chain(tmp_path):
    from warehouse.importers.connect import import_connect

    records, lens = tmp_path / "ctr.json", tmp_path / "lens.json"
    records.write_text(CONNECT_RECORDS, encoding="utf-8")
    lens.write_text(json.dumps(CONTACT_LENS) + "\n" + json.dumps({"CustomerMetadata": {"ContactId": "other"}}))
    landing = tmp_path / "landing"
    report = import_connect([records], landing, key="k", analysis_paths=[lens])
    assert report.records_read == 9 and report.contacts == 4 and report.duplicates == 1 and report.tasks_skipped == 1
    assert report.rejected == {"record without a ContactId": 1, "not a JSON object": 1,
                               "InitiationTimestamp missing or without a time zone": 1} and report.reconciles()
    assert report.transcripts == 1 and report.transcripts_unmatched == 1
    conversations = {c["conversation_id"]: c for c in _landing(landing, "conversations", "connect_")}
    assert set(conversations) == {"AC-c-1", "AC-c-3", "AC-c-4"}
    chain = conversations["AC-c-1"]
    assert (chain["queue_id"], chain["final_queue_id"], chain["transfer_count"], chain["agent_id"]) == (
        "connect:Billing", "connect:Retention", 1, "connect:asmith")
    assert chain["ended_at"] == "2026-10-01T08:12:00Z" and chain["handle_seconds"] == 720
    assert chain["customer_id"].startswith("connect:caller:") and "2065550100" not in chain["customer_id"]
    assert conversations["AC-c-4"]["channel"] == "chat" and conversations["AC-c-3"]["handle_seconds"] is None
    calls = {c["call_id"]: c for c in _landing(landing, "calls", "connect_")}
    assert set(calls) == {"c-1", "c-2", "c-3"} and calls["c-3"]["abandoned"] == "true"
    assert calls["c-1"]["transfers"] == "1" and calls["c-1"]["wait_seconds"] == "42"
    turns = _landing(landing, "turns", "connect_")
    assert [(t["speaker"], t["ts"]) for t in turns] == [("agent", "2026-10-01T08:00:43Z"),
                                                         ("customer", "2026-10-01T08:00:47Z")]
    assert import_connect([records], landing, key="k", analysis_paths=[lens]).files_written == 0
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        from warehouse.ingest import load_source
        from warehouse.sources import SOURCES

        for spec in SOURCES:
            if spec.name in ("conversations", "calls", "turns", "customers"):
                loaded = load_source(conn, spec, landing, timezone="UTC")
                assert loaded.rows_quarantined == 0 and loaded.rows_loaded > 0, (spec.name, loaded)


# ---- a whole build over imported files: no sample, no labels, no locale configured ------------------

def build_imported(data_dir):
    """Import every format's fixture into one empty data folder and build it in a child process."""
    from tests.fault_build import run_materialize
    from warehouse.importers.connect import import_connect
    from warehouse.importers.zendesk import import_zendesk

    (data_dir / "dagster_home").mkdir(parents=True, exist_ok=True)
    exports = data_dir / "exports"
    exports.mkdir(parents=True)
    files = {"twcs_part1.csv": EXPORT_1, "twcs_part2.csv": EXPORT_2, "tickets.jsonl": ZENDESK_EXPORT,
             "ctr.json": CONNECT_RECORDS, "lens.json": json.dumps(CONTACT_LENS)}
    for name, text in files.items():
        (exports / name).write_text(text, encoding="utf-8")
    landing = data_dir / "landing"
    reports = {"twcs": import_twcs([exports / "twcs_part1.csv", exports / "twcs_part2.csv"], landing, key="k"),
               "zendesk": import_zendesk([exports / "tickets.jsonl"], landing),
               "connect": import_connect([exports / "ctr.json"], landing, key="k",
                                         analysis_paths=[exports / "lens.json"])}
    (data_dir / "taxonomy.toml").write_text(IMPORTED_TAXONOMY, encoding="utf-8")
    code, _, output = run_materialize(data_dir, None)
    return data_dir, reports, code, output


# What a company would write on day one: two intents in its own words, routing for one of them.
IMPORTED_TAXONOMY = """
[[intent]]
name = "billing_problem"
description = "The customer's bill or invoice is wrong, too high or charged twice"
examples = ["my bill is too high", "I was charged twice", "the invoice amount is wrong"]
team = "billing_desk"
priority = "P2"
sla_hours = 8

[[intent]]
name = "device_problem"
description = "The customer's phone or device has a technical fault"
examples = ["my phone keeps crashing", "the battery dies quickly", "screen frozen after the update"]
"""


def page_of(data_dir, page: str):
    """A dashboard page rendered in AppTest over this data folder, checked for exceptions."""
    from tests.app_pages import open_page
    from tests.conftest import point_settings_at

    with mock.patch.dict(os.environ):  # later tests keep the settings they had
        point_settings_at(data_dir)
        at = open_page(f"dashboards/pages/{page}.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_a_build_over_imported_exports_publishes_every_contact_with_no_handle_and_no_assumed_locale(imported_build):
    from service_insight.settings import get_settings
    from tests.conftest import point_settings_at
    from warehouse.snapshot import current

    data_dir, reports, code, output = imported_build
    assert code == 0, output[-4000:]
    ref = current(data_dir / "snapshots")
    with duckdb.connect(str(ref.path), read_only=True) as c:
        channels = dict(c.execute("select channel, count(*) from marts.fct_conversations group by 1").fetchall())
        contacts = c.execute("select sum(contacts) from marts.fct_kpi_daily").fetchone()[0]
        turns = c.execute("select count(*) from marts.fct_turns").fetchone()[0]
        calls = c.execute("select count(*), count(*) filter (where is_abandoned) from marts.fct_calls").fetchone()
        tables = c.execute("select table_schema, table_name from information_schema.tables "
                           "where table_schema = 'marts'").fetchall()
        text = " ".join(str(v) for s, t in tables for row in c.execute(f'select * from {s}."{t}"').fetchall()
                        for v in row)
    written = {name: report.written for name, report in reports.items()}
    assert channels == {"social": 5, "email": 2, "phone": 3, "chat": 1}  # twcs 4 + zendesk 4 + connect 3
    assert contacts == sum(w["conversations"] for w in written.values()) == sum(channels.values())
    assert turns == sum(w["turns"] for w in written.values())
    assert calls == (3, 1)  # the Connect records; the one no agent took is abandoned
    assert "115712" not in text and "220044" not in text  # customer handles never reach a mart
    assert "2065550100" not in text  # nor the caller's number
    with mock.patch.dict(os.environ):  # later tests keep the settings they had
        point_settings_at(data_dir)
        settings = get_settings()
    assert settings.timezone == "UTC" and settings.holiday_country == ""  # nothing assumed
    with duckdb.connect(str(data_dir / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        eligible = c.execute("""select count(*) filter (where is_fcr_eligible), count(*) filter (where is_fcr_eligible
                                and disposition = 'unknown') from intermediate.int_conversations__enriched""").fetchone()
    assert eligible[1] == 0  # no wrap-up code (twcs, Connect): first-contact resolution cannot be judged, not 0%


@pytest.mark.slow
def test_the_overview_of_imported_exports_says_why_a_figure_is_missing(imported_build):
    from tests.app_pages import open_page
    from tests.conftest import point_settings_at

    data_dir = imported_build[0]
    with mock.patch.dict(os.environ):  # later tests keep the settings they had
        point_settings_at(data_dir)
        at = open_page()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m for m in at.metric}
    assert metrics["NPS"].value == "–" and "no survey answer with an NPS score" in metrics["NPS"].help
    assert metrics["CSAT (1-5)"].value != "–"  # the Zendesk ratings
    captions = " ".join(c.value for c in at.caption)
    assert "Not measurable in this period — " in captions and "NPS: no survey answer with an NPS score" in captions
    # Every page's sidebar says where the readings come from: nothing here was learnt from reviewed labels.
    panel = [e for e in at.sidebar.expander if e.label.startswith("Readings")]
    assert panel and panel[0].label == "Readings: 4 model(s) not trained yet"
    lines = " ".join(m.value for m in panel[0].markdown)
    assert "**Intents**: no model trained yet: 40 reviewed labels needed, 0 present." in lines
    assert "zero-shot from the taxonomy / knowledge base (no labels used)" in lines
    assert "**Translation**: no model trained yet: " in lines and "parallel sentence pairs needed" in lines


@pytest.mark.slow
def test_a_build_without_labels_inspects_every_answered_contact_on_the_checks_that_need_no_model(imported_build):
    """No quality-act model: every answered contact still gets the rule checks (first response time, the
    forbidden-phrase list); the act checks are "not measured" (neither passed nor failed), and the page says so."""
    from warehouse.snapshot import current

    data_dir = imported_build[0]
    with duckdb.connect(str(current(data_dir / "snapshots").path), read_only=True) as c:
        checks = c.execute("""select dimension, bool_and(measured), count(*) filter (where applicable),
                                     count(*) filter (where failed), any_value(method)
                              from marts.fct_qa_checks group by 1""").fetchall()
        answered = c.execute("""select count(distinct t.conversation_id) from marts.fct_turns as t
                                join marts.fct_conversations as c using (conversation_id)
                                where t.speaker = 'agent' and not c.is_abandoned""").fetchone()[0]
        cards = c.execute("select count(*), min(checks_unmeasured), max(checks_applicable) "
                          "from marts.fct_qa_scorecards").fetchone()
    by_dimension = {d: (m, a, f, method) for d, m, a, f, method in checks}
    assert len(by_dimension) == 12
    measured = {d for d, v in by_dimension.items() if v[0]}
    assert measured == {"forbidden_language", "response_time"}, by_dimension
    assert by_dimension["forbidden_language"][3] == "phrase list (seed qa_forbidden_phrases)"
    assert by_dimension["forbidden_language"][1] == answered  # applies to every answered contact
    assert all(v[1] == 0 and v[2] == 0 for d, v in by_dimension.items() if d not in measured)  # never a silent fail
    assert cards[0] == answered > 0 and cards[1] == 10 and cards[2] <= 2
    at = page_of(data_dir, "quality")
    warning = " ".join(w.value for w in at.warning)
    assert "10 of 12 dimensions are not measured on 100% of these conversations" in warning, warning
    assert "no quality-act model has been trained on reviewed agent turns yet" in warning
    assert 0 < int({m.label: m.value for m in at.metric}["Conversations scored"]) <= answered  # the default period


@pytest.mark.slow
def test_a_build_without_labels_gets_its_intents_from_the_company_taxonomy(imported_build):
    """No reviewed label anywhere: every contact with a customer message still gets an intent, zero-shot from
    the taxonomy file, marked as such, escalated (nothing calibrated), and the taxonomy's routing is used."""
    from warehouse.snapshot import current

    data_dir, _, code, output = imported_build
    assert code == 0, output[-4000:]
    with duckdb.connect(str(current(data_dir / "snapshots").path), read_only=True) as c:
        intents = c.execute("""
            select t.text, i.intent_of_record, i.intent_source, i.needs_escalation, i.predicted_intent
            from marts.fct_conversation_intents as i
            join marts.fct_turns as t on t.conversation_id = i.conversation_id and t.speaker = 'customer'
            qualify row_number() over (partition by i.conversation_id order by t.turn_index) = 1""").fetchall()
        with_message = c.execute("select count(distinct conversation_id) from marts.fct_turns "
                                 "where speaker = 'customer' and coalesce(text, '') <> ''").fetchone()[0]
    with duckdb.connect(str(data_dir / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        taxonomy = c.execute("select intent, team_id, priority, sla_hours from ml.intent_taxonomy order by 1").fetchall()
        routes = c.execute("""select i.intent_of_record, r.intent_team, r.base_priority
                              from marts.fct_conversation_intents as i
                              join intermediate.int_tickets__routes as r using (conversation_id)""").fetchall()
    assert taxonomy == [("billing_problem", "billing_desk", "P2", 8.0), ("device_problem", None, None, None)]
    assert "warning: no intent model trained: only 0 agreed training labels (need 40" in output  # run summary
    assert len(intents) == with_message > 0
    assert {r[2] for r in intents} == {"zero-shot taxonomy"}
    assert all(r[3] is True and r[4] is None for r in intents)  # no model: every contact goes to a person
    by_text = {r[0]: r[1] for r in intents}
    billing = [t for t, i in by_text.items() if "bill" in t.lower() or "invoice" in t.lower()]
    device = [t for t, i in by_text.items() if "battery" in t.lower()]
    assert billing and all(by_text[t] == "billing_problem" for t in billing), by_text
    assert device and all(by_text[t] == "device_problem" for t in device), by_text
    assert routes and all((team, priority) == ("billing_desk", "P2") for intent, team, priority in routes
                          if intent == "billing_problem")


@pytest.mark.slow
def test_a_build_without_a_translation_model_still_detects_every_turns_language(imported_build):
    """No translation memory, so no translation model: turns keep their text, but the Languages page reads
    their detected language instead of "und" for everything."""
    from warehouse.snapshot import current

    data_dir = imported_build[0]
    with duckdb.connect(str(current(data_dir / "snapshots").path), read_only=True) as c:
        rows = c.execute("""select source_language, model_version, bool_and(passed_through), count(*)
                            from marts.fct_turn_translations where speaker = 'customer' group by all""").fetchall()
        turns = c.execute("select count(*) from marts.fct_turns where speaker = 'customer'").fetchone()[0]
    languages = {r[0]: r[3] for r in rows}
    assert sum(languages.values()) == turns
    assert languages.get("en", 0) >= 0.6 * turns, languages  # the fixtures are English
    assert {r[1] for r in rows} == {"detect-only"} and all(r[2] for r in rows)


@pytest.mark.slow
def test_two_blind_reviewers_and_an_adjudicator_label_through_the_review_page(imported_build):
    """The Review page on a warehouse with no labels: a reviewer labels the least certain conversation,
    the second reviewer is offered the same one (to complete the pair) without seeing the first label,
    their disagreement reaches a third person, and every label lands as a landing file under its login."""
    from tests.app_pages import open_page
    from tests.conftest import point_settings_at
    from warehouse.review import written_labels

    data_dir = imported_build[0]

    def open_review(name):
        at = open_page("dashboards/pages/review.py")
        at.text_input(key="reviewer_name").input(name).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    def subheader(at):
        return next(h.value for h in at.subheader if h.value.startswith("Conversation "))

    with mock.patch.dict(os.environ):
        point_settings_at(data_dir)
        ann = open_review("ann")
        first = subheader(ann)
        next(s for s in ann.selectbox if s.label == "Intent").set_value("billing_problem")
        emotion = [s for s in ann.selectbox if s.label.endswith("customer emotion")]
        emotion[0].set_value(emotion[0].options[1])
        next(b for b in ann.button if b.label == "Save my labels").click().run()
        assert not ann.exception, [e.value for e in ann.exception]
        assert any("Saved 2 label(s)" in s.value for s in ann.success)
        assert subheader(ann) != first  # ann moves on

        bo = open_review("bo")
        assert subheader(bo) == first  # the pair is completed first
        shown = " ".join(str(v) for el in (bo.markdown, bo.caption) for v in (e.value for e in el))
        assert "billing_problem" not in shown  # blind: the first label is not shown
        next(s for s in bo.selectbox if s.label == "Intent").set_value("device_problem")
        next(b for b in bo.button if b.label == "Save my labels").click().run()

        cy = open_review("cy")
        cy.tabs[1]  # the Adjudicate tab renders the open disagreements
        assert any("billing_problem vs device_problem" in e.label for e in cy.expander)
        decide = next(s for s in cy.selectbox if s.label == "Decision")
        decide.set_value("billing_problem")
        next(b for b in cy.button if b.label == "Decide").click().run()
        assert not cy.exception, [e.value for e in cy.exception]
        assert not any("vs" in e.label for e in cy.expander)
    labels = written_labels(data_dir / "landing")
    cid = first.removeprefix("Conversation ")
    intents = {(x.annotator, x.adjudicated): x.label for x in labels if x.kind == "intent" and x.conversation_id == cid}
    assert intents == {("ann", False): "billing_problem", ("bo", False): "device_problem",
                       ("cy", True): "billing_problem"}
    assert sum(1 for x in labels if x.kind == "emotion") == 1


@pytest.mark.slow
def test_the_live_answer_replies_on_day_one_with_an_answer_the_imported_threads_gave(imported_build):
    """No knowledge base, no labels, no model: a question a resolved thread answered is answered with that thread's
    reply (cited, not escalated); one nobody answered still goes to a person."""
    from ml.answer import AnswerEngine
    from warehouse.snapshot import current

    data_dir = imported_build[0]
    ref = current(data_dir / "snapshots")
    with duckdb.connect(str(ref.path), read_only=True) as c:
        past = c.execute("select conversation_id, question, answer, resolution_evidence "
                         "from marts.dim_resolved_answers order by 1").fetchall()
        passages = c.execute("select count(*) from marts.dim_kb_passages").fetchone()[0]
    assert passages == 0  # nothing to retrieve but the company's own threads
    by_question = {q: (cid, a, e) for cid, q, a, e in past}
    iphone = next(q for q in by_question if "iPhone 7" in q)
    assert by_question[iphone][1] == "Update to 11.1.1 - that fixes it."  # not addressed to that customer
    assert by_question[iphone][2] == "no repeat contact within 7 days"
    assert not any("happy new year" in q for q in by_question)  # nobody answered it
    engine = AnswerEngine(ref.path, data_dir / "models")
    try:
        r = engine.answer("@AppleSupport 11.1 on an iPhone 7")
        assert not r.escalate, r.escalate_reasons
        assert r.suggested_reply == "Update to 11.1.1 - that fixes it."
        assert r.reply_source.startswith(f"past answer: conversation {by_question[iphone][0]}")
        lonely = engine.answer("Can you ship a piano to Antarctica by Friday?")
        assert lonely.escalate and any("intent uncertain" in x for x in lonely.escalate_reasons)
        assert lonely.past_answers and lonely.past_answers[0].score < engine.min_past_similarity
    finally:
        engine.close()


@pytest.mark.slow
def test_a_build_without_labels_reads_every_customer_turns_emotion_zero_shot_and_says_so(imported_build):
    """No turn label, so no emotion model: every customer turn still gets an emotion, under the zero-shot version,
    and the Emotion page and the sidebar say these readings were not learnt from the company's labels."""
    from warehouse.snapshot import current

    data_dir = imported_build[0]
    with duckdb.connect(str(current(data_dir / "snapshots").path), read_only=True) as c:
        readings = c.execute("""select t.text, r.emotion, r.emotion_model_version
                                from marts.fct_turn_readings as r
                                join marts.fct_turns as t using (conversation_id, turn_index)
                                where r.speaker = 'customer' and coalesce(t.text, '') <> ''""").fetchall()
        read = c.execute("select count(*) from marts.fct_turn_readings "
                         "where speaker = 'customer' and emotion is not null").fetchone()[0]
    assert readings and all(r[1] is not None for r in readings)
    assert {r[2] for r in readings} == {"zero-shot:multilingual-e5-small"}
    by_text = {r[0]: r[1] for r in readings}
    angry = [t for t in by_text if "nobody answers" in t]
    assert angry and by_text[angry[0]] == "angry", by_text  # "my bill doubled & nobody answers"
    at = page_of(data_dir, "emotion")
    assert any("100% of these emotion readings are zero-shot, not learnt from your reviewed labels" in w.value
               for w in at.warning), [w.value for w in at.warning]
    panel = [e for e in at.sidebar.expander if e.label.startswith("Readings")][0]
    lines = " ".join(m.value for m in panel.markdown)
    assert f"{read:,} customer turns with an emotion: {read:,} zero-shot from described examples" in lines, lines


@pytest.fixture(scope="module")
def reviewed_rebuild(imported_build, tmp_path_factory):
    """The next build of a copy of the imported folder after a day of use: two reviewers labelled every contact
    (one disagreement, settled by a third) and two customers talked to the virtual agent (one answered and rated
    it, one handed over). Returns (data_dir, truth of the reviewed intents, the build's output)."""
    import shutil
    from datetime import datetime, timedelta, timezone

    from tests.fault_build import run_materialize
    from warehouse.review import Label, record_labels, written_labels
    from warehouse.snapshot import current
    from warehouse.virtual_agent_log import Exchange, VirtualAgentContact, write_contact

    data_dir = tmp_path_factory.mktemp("reviewed") / "imported"
    shutil.copytree(imported_build[0], data_dir)  # the shared build stays label-less for the other tests
    for earlier in (data_dir / "landing").glob("*/*-review-*.jsonl"):  # labels other tests wrote, not yet built
        earlier.unlink()
    with duckdb.connect(str(current(data_dir / "snapshots").path), read_only=True) as c:
        firsts = c.execute("""select conversation_id, text from marts.fct_turns where speaker = 'customer'
                              and coalesce(text, '') <> ''
                              qualify row_number() over (partition by conversation_id order by turn_index) = 1
                              order by 1""").fetchall()
    truth = {cid: "billing_problem" if any(w in text.lower() for w in ("bill", "invoice", "charge")) else "device_problem"
             for cid, text in firsts}
    assert len(truth) >= 6 and len(set(truth.values())) == 2, truth
    landing, disputed = data_dir / "landing", firsts[0][0]
    record_labels(landing, "reviewer-a", [Label("intent", cid, None, "reviewer-a", v) for cid, v in truth.items()], [])
    other = {cid: ("device_problem" if v == "billing_problem" else "billing_problem") if cid == disputed else v
             for cid, v in truth.items()}
    record_labels(landing, "reviewer-b", [Label("intent", cid, None, "reviewer-b", v) for cid, v in other.items()],
                  written_labels(landing))
    record_labels(landing, "reviewer-c", [Label("intent", disputed, None, "reviewer-c", truth[disputed],
                                                adjudicated=True)], written_labels(landing))
    at = datetime(2017, 11, 2, 9, 0, tzinfo=timezone.utc)
    answered = VirtualAgentContact("answered01", "virtual_agent", [
        Exchange(at, at + timedelta(seconds=3), "11.1 on an iPhone 7", "Update to 11.1.1 - that fixes it.", "en",
                 voice={"duration_s": 1.8, "energy_db": -20.0, "pitch_mean_hz": 190.0, "pitch_var": 90.0,
                        "speaking_rate_sps": 4.4})], csat=5)
    handed = VirtualAgentContact("handover01", "virtual_agent", [
        Exchange(at + timedelta(hours=1), at + timedelta(hours=1, seconds=2), "I want to speak to a person",
                 "Thank you, I'm connecting you with a colleague.", "en", handed_over=True,
                 reasons=("customer asks for a person",))])
    for contact in (answered, handed):
        write_contact(landing, contact)
    from warehouse.training_log import session_row, write_session

    for n, ok in enumerate([False, True, True, True, True, True]):  # a trainee's first week on the simulator
        summary = {"persona_id": "P-x", "intent": "billing_problem", "language": "en", "difficulty": 1 + n // 3,
                   "replies": 3, "goal_met": ok, "customer_left": not ok, "policy_compliant": True,
                   "empathy_shown": True, "de_escalated": None, "final_mood": "calm" if ok else "left",
                   "score": 0.9 if ok else 0.3}
        write_session(landing, session_row(f"s{n}", "tess", at + timedelta(days=n), at + timedelta(days=n, minutes=4),
                                           summary, "x", ["my bill is wrong"], [], "curriculum"))
    code, _, output = run_materialize(data_dir, None, env={"SI_MIN_TRAINING_LABELS": "4"})
    assert code == 0, output[-4000:]
    return data_dir, truth, output


@pytest.mark.slow
def test_labels_from_the_review_queue_train_the_intent_model_at_the_next_build(reviewed_rebuild):
    """The loop the Review page starts: the labels land as files, and the next build trains the intent model on
    them: reviewed contacts take the agreed intent, the model's status says trained, and no "no intent model"
    warning is left."""
    from warehouse.snapshot import current

    data_dir, truth, output = reviewed_rebuild
    assert "warning: no intent model trained" not in output
    with duckdb.connect(str(data_dir / "warehouse" / "warehouse.duckdb"), read_only=True) as c:
        status = c.execute("select status, labels from ml.training_status where task = 'intent'").fetchone()
        models = c.execute("select count(*) from ml.ml_model_runs where task = 'intent' and is_current").fetchone()[0]
    with duckdb.connect(str(current(data_dir / "snapshots").path), read_only=True) as c:
        intents = dict(c.execute("select conversation_id, intent_of_record from marts.fct_conversation_intents "
                                 "where intent_source = 'review'").fetchall())
    assert status[0] == "trained" and status[1] >= 4 and models == 1, status
    assert intents == truth  # every reviewed contact, the disputed one as the adjudicator decided


@pytest.mark.slow
def test_virtual_agent_contacts_are_analysed_like_any_other_after_the_next_build(reviewed_rebuild):
    """What the virtual agent logged reaches the marts: its contacts, containment, the hand-over reason, the rating,
    the customer's voice; the performance tab shows them."""
    from datetime import date

    from streamlit.testing.v1 import AppTest

    from service_insight.settings import PROJECT_ROOT
    from tests.conftest import point_settings_at
    from warehouse.snapshot import current

    data_dir = reviewed_rebuild[0]
    with duckdb.connect(str(current(data_dir / "snapshots").path), read_only=True) as c:
        rows = c.execute("""select conversation_id, channel, is_virtual_agent, is_contained, handover_reasons, csat
                            from marts.fct_virtual_agent_contacts order by 1""").fetchall()
        fcr = c.execute("select list(is_fcr_eligible order by conversation_id), "
                        "list(coalesce(is_first_contact_resolution, false) order by conversation_id) "
                        "from marts.fct_conversations where queue_id = 'virtual_agent'").fetchone()
        pitch = c.execute("select pitch_mean_hz from marts.fct_turns where conversation_id = 'VA-20171102-answered01' "
                          "and speaker = 'customer'").fetchone()[0]
    assert rows == [("VA-20171102-answered01", "phone", True, True, None, 5),
                    ("VA-20171102-handover01", "chat", True, False, ["customer asks for a person"], None)], rows
    # The kept contact has no wrap-up code, so FCR does not count it; the handed-over one is not resolved at first
    # contact. The voice reading is on the customer's turn.
    assert fcr == ([False, True], [False, False]) and pitch == 190.0
    with mock.patch.dict(os.environ):
        point_settings_at(data_dir)
        at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=120)
        at.session_state["period"] = (date(2017, 11, 1), date(2026, 10, 1))  # from the tweets to the tickets
        at.run()
        at.switch_page("dashboards/pages/virtual_agent.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Bot contacts"] == "2" and metrics["Contained"] == "50%" and metrics["CSAT"] == "5.0 / 5"
        reasons = [df.value for df in at.dataframe if "reason" in df.value.columns]
        assert reasons and reasons[0].to_dict("records") == [{"reason": "customer asks for a person", "contacts": 1}]


@pytest.mark.slow
def test_practice_sessions_reach_the_training_marts(reviewed_rebuild):
    """Six sessions of one trainee (a failure, then five successes): the bar (70% of the last five) is reached at
    the fifth session, four days after the first."""
    from warehouse.snapshot import current

    with duckdb.connect(str(current(reviewed_rebuild[0] / "snapshots").path), read_only=True) as c:
        sessions = c.execute("select session_number, is_success, at_bar from marts.fct_training_sessions "
                             "where trainee = 'tess' order by 1").fetchall()
        progress = c.execute("select sessions, sessions_to_bar, days_to_bar, hardest_passed, at_bar_now "
                             "from marts.fct_trainee_progress where trainee = 'tess'").fetchone()
    assert [s[2] for s in sessions] == [False, False, False, False, True, True] and not sessions[0][1]
    assert progress == (6, 5, 4, 2, True)


PAGES = sorted(p.stem for p in (PROJECT_ROOT / "dashboards" / "pages").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_page_of_a_label_less_warehouse_renders_and_says_something(imported_build, page):
    """No page errors on a warehouse with no labels and no models, and none is left blank."""
    at = page_of(imported_build[0], page)
    shown = [*at.metric, *at.info, *at.warning, *at.dataframe, *at.text_input, *at.text_area, *at.chat_input]
    assert shown, f"{page} shows nothing"
    if page == "models":
        infos = " ".join(i.value for i in at.info)
        assert "No conversation has a reviewed intent yet" in infos and "No intent model has scored any contact" in infos
        assert "widen the period" not in infos
