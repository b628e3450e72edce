"""The landing folder as a trust boundary, and counts and values that cannot lie.

Each test here is a finding of the hostile probe (issue 20, items 4-7) turned into a
specification: what the loader must do with a symlink, a FIFO, a dotfile, a stray quote, a
CR-only export, a NUL in an id, an impossible duration, a key delivered twice, or a time written
'09:00 UTC-8'. They call the loader directly on small files, so each runs in well under a second.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.ingest import load_source, quarantine_unrouted
from warehouse.sources import SOURCE_BY_NAME, SOURCES

TURNS = SOURCE_BY_NAME["turns"]
CONVERSATIONS = SOURCE_BY_NAME["conversations"]
HEADER = "conversation_id,turn_index,speaker,ts,text"


@pytest.fixture
def conn(tmp_path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _no_zone_map(monkeypatch):
    """Loads read SI_TZ_ABBREVIATIONS by default; a developer's environment must not change these tests."""
    monkeypatch.delenv("SI_TZ_ABBREVIATIONS", raising=False)


def turn_line(i: int, text: str | None = None, cid: str = "CV1") -> str:
    return f"{cid},{i},agent,2026-01-01 10:00:{i % 60:02d},{text if text is not None else f'line {i}'}"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def manifest(conn, rel: str) -> dict:
    cur = conn.execute("select * from raw._load_manifest where source_file = ?", [rel])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0]))


def quarantine(conn, rel: str) -> dict[int | None, str]:
    return dict(conn.execute("select line, reason from raw.quarantine where source_file = ? order by line",
                             [rel]).fetchall())


def lines_reconcile(m: dict) -> bool:
    """Every physical line of a text file is the header, blank, a record, or a record's continuation."""
    return m["physical_lines"] == m["header_lines"] + m["blank_lines"] + m["rows_in"] + m["continuation_lines"]


def conversation(cid: str = "CV1", **extra) -> dict:
    return {"conversation_id": cid, "channel": "chat", "started_at": "2026-01-01 10:00:00",
            "ended_at": "2026-01-01 10:05:00", "customer_id": "C1", "queue_id": "Q_general", "transfer_count": 0,
            "handle_seconds": 300, "first_response_seconds": 20, **extra}


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


# ---- 4. landing is a trust boundary --------------------------------------------------------

@pytest.fixture
def secret(tmp_path) -> Path:
    """A file outside the landing folder that parses as valid turns: following a link would load it."""
    return write(tmp_path / "outside" / "secret.csv", f"{HEADER}\n{turn_line(0, 'SECRET-PAYLOAD')}\n")


def test_a_symlink_in_landing_is_reported_and_never_read(conn, tmp_path, secret):
    landing = tmp_path / "landing"
    write(landing / "turns" / "real.csv", f"{HEADER}\n{turn_line(0)}\n")
    os.symlink(secret, landing / "turns" / "passwd.csv")
    os.symlink(landing / "turns" / "real.csv", landing / "turns" / "alias.csv")  # even one pointing inside
    report = load_source(conn, TURNS, landing)
    assert conn.execute("select count(*) from raw.turns").fetchone()[0] == 1
    for rel, where in (("turns/passwd.csv", "outside"), ("turns/alias.csv", "inside")):
        m = manifest(conn, rel)
        assert (m["status"], m["file_sha256"], m["rows_in"], m["rows_quarantined"]) == ("not_read", "", 1, 1)
        assert f"symbolic link (to '{os.readlink(landing / rel)}', {where} the landing folder)" in m["note"]
        assert "never followed" in quarantine(conn, rel)[None]
    stored = conn.execute("select string_agg(coalesce(raw_record, '') || reason, ' ') from raw.quarantine").fetchone()[0]
    assert "SECRET-PAYLOAD" not in stored
    assert report.files_not_read == 2
    assert report.rows_in == report.rows_loaded + report.rows_quarantined == 3


def test_a_symlinked_source_folder_or_subfolder_is_not_followed(conn, tmp_path, secret):
    landing = tmp_path / "landing"
    landing.mkdir()
    os.symlink(secret.parent, landing / "turns")
    load_source(conn, TURNS, landing)
    assert "source folder is a symbolic link" in manifest(conn, "turns")["note"]
    (landing / "turns").unlink()
    write(landing / "turns" / "a.csv", f"{HEADER}\n{turn_line(0)}\n")
    os.symlink(secret.parent, landing / "turns" / "more")
    load_source(conn, TURNS, landing)
    assert manifest(conn, "turns/more")["status"] == "not_read"
    assert conn.execute("select list(text) from raw.turns").fetchone()[0] == ["line 0"]


@pytest.mark.timeout(30)
def test_a_fifo_or_device_is_reported_without_being_opened(conn, tmp_path):
    landing = tmp_path / "landing"
    write(landing / "turns" / "a.csv", f"{HEADER}\n{turn_line(0)}\n")
    os.mkfifo(landing / "turns" / "pipe.csv")  # opening it for reading would block the run forever
    os.symlink("/dev/zero", landing / "turns" / "zero.csv")  # reading it would never end
    report = load_source(conn, TURNS, landing)
    assert "not a regular file (a named pipe (FIFO))" in manifest(conn, "turns/pipe.csv")["note"]
    assert manifest(conn, "turns/zero.csv")["status"] == "not_read"
    assert (report.rows_loaded, report.files_not_read) == (1, 2)


def test_hidden_files_and_folders_are_reported_not_silently_ignored(conn, tmp_path):
    landing = tmp_path / "landing"
    write(landing / "turns" / "a.csv", f"{HEADER}\n{turn_line(0)}\n")
    write(landing / "turns" / ".a.csv.partial", f"{HEADER}\n{turn_line(1)}\n")  # an upload still in progress
    write(landing / "turns" / ".sync" / "b.csv", f"{HEADER}\n{turn_line(2)}\n")
    write(landing / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    load_source(conn, TURNS, landing)
    assert quarantine_unrouted(conn, landing) == 1
    assert "hidden file" in manifest(conn, "turns/.a.csv.partial")["note"]
    assert "hidden folder" in manifest(conn, "turns/.sync")["note"]
    top = manifest(conn, ".DS_Store")
    assert (top["source"], top["status"], top["file_sha256"]) == ("_unrouted", "not_read", "")
    assert conn.execute("select list(turn_index) from raw.turns").fetchone()[0] == [0]


def test_links_outside_the_source_folders_are_reported_without_reading_them(conn, tmp_path, secret):
    landing = tmp_path / "landing"
    landing.mkdir()
    os.symlink(secret, landing / "secret.csv")
    os.symlink(secret.parent, landing / "backup")
    assert quarantine_unrouted(conn, landing) == 2
    rows = conn.execute("select source_file, file_sha256, reason from raw.quarantine order by 1").fetchall()
    assert [(rel, sha) for rel, sha, _ in rows] == [("backup", ""), ("secret.csv", "")]  # never hashed: never opened
    assert all("symbolic link" in reason for *_, reason in rows)
    assert quarantine_unrouted(conn, landing) == 0  # reported once


def test_not_read_records_are_kept_once_and_follow_the_entry(conn, tmp_path, secret):
    landing = tmp_path / "landing"
    link = landing / "turns" / "a.csv"
    link.parent.mkdir(parents=True)
    os.symlink(secret, link)
    load_source(conn, TURNS, landing)
    again = load_source(conn, TURNS, landing)
    assert (again.files_not_read, again.files_skipped) == (0, 1)
    assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] == 1
    link.unlink()
    write(link, f"{HEADER}\n{turn_line(0)}\n")  # the exporter now delivers the file itself
    load_source(conn, TURNS, landing)
    assert manifest(conn, "turns/a.csv")["status"] == "loaded"
    assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] == 0


def test_a_file_swapped_for_a_link_after_scanning_is_not_followed(tmp_path, secret):
    from warehouse.ingest import NotReadable, parse_file, sha256_of

    landing = tmp_path / "landing"
    link = landing / "turns" / "a.csv"
    link.parent.mkdir(parents=True)
    os.symlink(secret, link)
    with pytest.raises(NotReadable, match="symbolic link"):
        parse_file(TURNS, link, landing)
    with pytest.raises(NotReadable):
        sha256_of(link)


def test_not_read_records_outside_the_source_folders_follow_the_entry(conn, tmp_path, secret):
    landing = tmp_path / "landing"
    landing.mkdir()
    os.symlink(secret, landing / "secret.csv")
    write(landing / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    assert quarantine_unrouted(conn, landing) == 2
    (landing / ".DS_Store").unlink()  # gone
    (landing / "secret.csv").unlink()
    write(landing / "secret.csv", "a,b\n1,2\n")  # the file itself now: readable, but routed nowhere
    assert quarantine_unrouted(conn, landing) == 1
    assert conn.execute("select source_file, status from raw._load_manifest").fetchall() == [
        ("secret.csv", "quarantined")]
    assert [reason for reason in quarantine(conn, "secret.csv").values()] == [
        "the top of the landing folder is not a known source; move the file into one of: "
        + ", ".join(sorted(s.name for s in SOURCES))]
    assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] == 1
    assert quarantine_unrouted(conn, landing) == 0


def test_a_file_replaced_by_another_after_scanning_is_not_read(tmp_path):
    """The (device, inode) seen by the scan is checked when the file is opened, to hash or to parse it."""
    from warehouse.ingest import NotReadable, landing_files, parse_file, sha256_of

    landing = tmp_path / "landing"
    path = write(landing / "turns" / "a.csv", f"{HEADER}\n{turn_line(0)}\n")
    [entry], _, _ = landing_files(TURNS, landing)
    other = write(tmp_path / "b.csv", f"{HEADER}\n{turn_line(1, 'SWAPPED')}\n")  # a regular file, another inode
    os.replace(other, path)
    with pytest.raises(NotReadable, match="was replaced while the landing folder was being read"):
        sha256_of(entry.path, entry.identity)
    with pytest.raises(NotReadable, match="was replaced while the landing folder was being read"):
        parse_file(TURNS, entry.path, landing, entry.identity)
    assert sha256_of(entry.path)  # without an identity only the kind of file is checked


def test_a_folder_swapped_for_a_link_after_scanning_is_not_read(conn, tmp_path, secret, monkeypatch):
    import warehouse.ingest as ingest

    landing = tmp_path / "landing"
    write(landing / "turns" / "day" / "secret.csv", f"{HEADER}\n{turn_line(0)}\n")  # named as the outside file
    scan, open_regular = ingest.landing_files, ingest._open_regular
    checked = []

    def scan_then_swap(spec, root):
        found = scan(spec, root)
        (landing / "turns" / "day").rename(tmp_path / "moved")
        os.symlink(secret.parent, landing / "turns" / "day")  # O_NOFOLLOW guards only the last path component
        return found

    monkeypatch.setattr(ingest, "landing_files", scan_then_swap)
    monkeypatch.setattr(ingest, "_open_regular", lambda path, identity=None: checked.append(identity) or
                        open_regular(path, identity))
    report = load_source(conn, TURNS, landing)
    assert checked and None not in checked  # every open, the hash's included, checks what the scan saw
    m = manifest(conn, "turns/day/secret.csv")
    assert m["status"] == "not_read" and "was replaced" in m["note"]
    assert (report.rows_loaded, report.files_not_read) == (0, 1)


# ---- 5. counts that cannot lie ----------------------------------------------------------------

def stray_quote_file(closing: str) -> str:
    """300 records; record 10 opens a quote that only a stray quote in record 120 closes."""
    rows = [turn_line(i) for i in range(300)]
    rows[10] = turn_line(10, '"oops, a quote')
    rows[120] = turn_line(120, closing)
    return HEADER + "\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("closing", ['stray" quote then text', 'ends with a stray quote"'],
                         ids=["merge-fails-to-parse", "merge-parses-as-one-record"])
def test_two_stray_quotes_110_lines_apart_reconcile_line_for_line(conn, tmp_path, closing):
    landing = tmp_path / "landing"
    write(landing / "turns" / "a.csv", stray_quote_file(closing))
    report = load_source(conn, TURNS, landing)
    assert report.rows_in == 300 == report.rows_loaded + report.rows_quarantined
    # Record 10 is on line 12: the line that opened the quote is the broken one. Line 122 read
    # alone is a good record whose text holds a quote character (legal in an unquoted field).
    assert quarantine(conn, "turns/a.csv") == {12: (
        "malformed CSV record: an unbalanced quote joins lines 12-122, which do not form one record; "
        "this line read alone: a quote opened here is not closed on this line")}
    assert conn.execute("select count(*), count(distinct turn_index) from raw.turns").fetchone() == (299, 299)
    assert conn.execute("select text from raw.turns where turn_index = 120").fetchone()[0] == closing
    m = manifest(conn, "turns/a.csv")
    assert "quote error: lines 12-122 read line by line" in m["note"]
    assert m["physical_lines"] == 301 and lines_reconcile(m)


def test_a_quoted_field_over_several_lines_still_loads_as_one_record(conn, tmp_path):
    landing = tmp_path / "landing"
    write(landing / "turns" / "a.csv", f'{HEADER}\n{turn_line(0)}\nCV1,1,customer,2026-01-01 10:00:01,"first line,\n'
                                       f'second, with ""quotes""\nthird"\n{turn_line(2)}\n')
    report = load_source(conn, TURNS, landing)
    assert (report.rows_in, report.rows_loaded) == (3, 3)
    assert conn.execute("select text from raw.turns where turn_index = 1").fetchone()[0] == \
        'first line,\nsecond, with "quotes"\nthird'
    m = manifest(conn, "turns/a.csv")
    assert (m["physical_lines"], m["continuation_lines"]) == (6, 2) and lines_reconcile(m)


def test_a_cr_only_csv_gives_one_row_per_line(conn, tmp_path):
    landing = tmp_path / "landing"
    write(landing / "turns" / "mac.csv", "\r".join([HEADER] + [turn_line(i) for i in range(50)]) + "\r")
    report = load_source(conn, TURNS, landing)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (50, 50, 0)
    assert manifest(conn, "turns/mac.csv")["physical_lines"] == 51


def test_mixed_line_endings_are_read_line_by_line(conn, tmp_path):
    landing = tmp_path / "landing"
    text = (f"{HEADER}\r\n{turn_line(0)}\n{turn_line(1)}\r{turn_line(2)}\r\n"
            f'CV1,3,agent,2026-01-01 10:00:03,"kept\rwhole\r\nacross"\n{turn_line(4)}')
    write(landing / "turns" / "mixed.csv", text)
    report = load_source(conn, TURNS, landing)
    assert (report.rows_in, report.rows_loaded) == (5, 5)
    assert conn.execute("select text from raw.turns where turn_index = 3").fetchone()[0] == "kept\rwhole\r\nacross"
    assert conn.execute("select list(_line order by turn_index) from raw.turns").fetchone()[0] == [2, 3, 4, 5, 7]


def test_a_cr_only_jsonl_file_gives_one_record_per_line(conn, tmp_path):
    landing = tmp_path / "landing"
    write(landing / "conversations" / "c.jsonl", "\r".join(json.dumps(conversation(f"CV{i}")) for i in range(20)))
    report = load_source(conn, CONVERSATIONS, landing)
    assert (report.rows_in, report.rows_loaded) == (20, 20)


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
def test_a_file_with_one_kind_of_line_break_is_split_without_a_regular_expression(conn, tmp_path, monkeypatch,
                                                                                      newline):
    """The usual exports (Windows, Unix, old Mac) take the fast path, with the same exact line accounting."""
    import warehouse.ingest as ingest

    monkeypatch.setattr(ingest, "_LINE_BREAK", None)  # the regular-expression split is for mixed files only
    monkeypatch.setattr(ingest, "_QUOTE_OR_BREAK", None)
    rows = [HEADER, turn_line(0), "", f'CV1,1,agent,2026-01-01 10:00:01,"first{newline}second"', turn_line(2)]
    landing = tmp_path / "landing"
    write(landing / "turns" / "a.csv", newline.join(rows))  # no break after the last line
    report = load_source(conn, TURNS, landing)
    assert (report.rows_in, report.rows_loaded) == (3, 3)
    assert conn.execute("select text from raw.turns where turn_index = 1").fetchone()[0] == f"first{newline}second"
    assert conn.execute("select list(_line order by turn_index) from raw.turns").fetchone()[0] == [2, 4, 6]
    m = manifest(conn, "turns/a.csv")
    assert (m["physical_lines"], m["blank_lines"], m["continuation_lines"]) == (6, 1, 1) and lines_reconcile(m)
    assert ingest._split_lines(newline.join(rows), quoted=True)[1] == newline  # one kind of break: one string


def test_nul_and_control_characters_in_ids_are_quarantined(conn, tmp_path):
    landing = tmp_path / "landing"
    write(landing / "conversations" / "c.jsonl", jsonl(
        conversation("CV\x00X"), conversation("CV2", customer_id="C1\t"), conversation("CV3", queue_id="Q\u200bgeneral"),
        conversation("CV4", agent_id="A\u202e1"), conversation("CV5")))
    write(landing / "turns" / "t.csv", f"{HEADER}\nCV\x001,0,agent,2026-01-01 10:00:00,hi\n{turn_line(1)}\n")
    load_source(conn, CONVERSATIONS, landing)
    load_source(conn, TURNS, landing)
    reasons = quarantine(conn, "conversations/c.jsonl")
    assert reasons == {1: "conversation_id: control or invisible character U+0000 in an identifier",
                       2: "customer_id: control or invisible character U+0009 in an identifier",
                       3: "queue_id: control or invisible character U+200B in an identifier",
                       4: "agent_id: control or invisible character U+202E in an identifier"}
    assert quarantine(conn, "turns/t.csv") == {2: "conversation_id: control or invisible character U+0000 in an identifier"}
    assert conn.execute("select list(conversation_id) from raw.conversations").fetchone()[0] == ["CV5"]


def test_every_physical_line_is_accounted_for_in_the_manifest(conn, tmp_path):
    landing = tmp_path / "landing"
    text = (f"{HEADER}\n{turn_line(0)}\n\n{turn_line(1, 'x')}\n   \nCV1,2,agent\n"
            f'CV1,3,agent,2026-01-01 10:00:03,"two\nlines"\n{turn_line(4, chr(34) + "never closed")}\n{turn_line(5)}')
    write(landing / "turns" / "a.csv", text)
    write(landing / "conversations" / "c.jsonl", "\n" + jsonl(conversation()) + "{broken\n\n")
    load_source(conn, TURNS, landing)
    load_source(conn, CONVERSATIONS, landing)
    m = manifest(conn, "turns/a.csv")
    assert {k: m[k] for k in ("physical_lines", "header_lines", "blank_lines", "rows_in", "continuation_lines")} == \
        {"physical_lines": 10, "header_lines": 1, "blank_lines": 2, "rows_in": 6, "continuation_lines": 1}
    assert set(quarantine(conn, "turns/a.csv")) == {6, 9}
    j = manifest(conn, "conversations/c.jsonl")
    assert (j["physical_lines"], j["blank_lines"], j["rows_in"]) == (4, 2, 2) and lines_reconcile(j)


def test_an_unreadable_header_still_reports_every_line(conn, tmp_path):
    landing = tmp_path / "landing"
    write(landing / "turns" / "a.csv", f'"conversation_id,turn_index\n{turn_line(0)}\n\n{turn_line(1)}\n')
    report = load_source(conn, TURNS, landing)
    assert report.rows_in == report.rows_quarantined == 3
    assert sorted(quarantine(conn, "turns/a.csv")) == [1, 2, 4]
    assert lines_reconcile(manifest(conn, "turns/a.csv"))


def test_hostile_bytes_never_crash_a_load_and_counts_reconcile(conn, tmp_path):
    """Random mixtures of quotes, separators, CR, LF, NUL and UTF-8 for every text source."""
    rng = random.Random(20)
    alphabet = ['"', ",", "\r", "\n", "\r\n", "\x00", "a", "1", " ", "é", "{", "}", ":", "CV1", "2026-01-01 10:00:00"]
    landing = tmp_path / "landing"
    for spec in SOURCES:
        if spec.format == "parquet":
            continue
        for k in range(4):
            body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
            head = ",".join(spec.column_names) + "\n" if spec.format == "csv" and k % 2 else ""
            write(landing / spec.name / f"junk_{k}.{spec.format}", head + body)
    for spec in SOURCES:
        report = load_source(conn, spec, landing)
        assert report.rows_in == report.rows_loaded + report.rows_quarantined, spec.name
    for m in conn.execute("select physical_lines, header_lines, blank_lines, rows_in, continuation_lines "
                          "from raw._load_manifest").fetchall():
        assert m[0] == sum(m[1:]), m


# ---- 6. values that make sense ----------------------------------------------------------------

def test_impossible_conversation_and_call_values_are_quarantined(conn, tmp_path):
    landing = tmp_path / "landing"
    write(landing / "conversations" / "c.jsonl", jsonl(
        conversation("CV1", first_response_seconds=-5), conversation("CV2", transfer_count=-1),
        conversation("CV3", ended_at="2026-01-01 09:59:00"), conversation("CV4", ended_at=None), conversation("CV5")))
    calls_header = ",".join(SOURCE_BY_NAME["calls"].column_names)
    ok = ["Q_general", "1>2", "+8613900000000", "2026-01-01 10:00:00", "1", "2", "30", "5", "10", "0", "false", "R1"]
    rows = []
    for i, (col, value) in enumerate([(None, None), ("talk_seconds", "-30"), ("hold_seconds", "-1"),
                                      ("transfers", "-2"), ("ring_seconds", "-3"), ("wait_seconds", "-4"),
                                      ("wrap_seconds", "-6")]):
        fields = dict(zip(SOURCE_BY_NAME["calls"].column_names, [f"CL{i}", f"CV{i}", *ok]))
        if col:
            fields[col] = value
        rows.append(",".join(fields.values()))
    write(landing / "calls" / "k.csv", calls_header + "\n" + "\n".join(rows) + "\n")
    load_source(conn, CONVERSATIONS, landing)
    load_source(conn, SOURCE_BY_NAME["calls"], landing)
    assert quarantine(conn, "conversations/c.jsonl") == {
        1: "first_response_seconds must be >= 0", 2: "transfer_count must be >= 0",
        3: "ended_at is before started_at (ended_at 2026-01-01 09:59:00, started_at 2026-01-01 10:00:00)"}
    assert quarantine(conn, "calls/k.csv") == {3: "talk_seconds must be >= 0", 4: "hold_seconds must be >= 0",
                                               5: "transfers must be >= 0", 6: "ring_seconds must be >= 0",
                                               7: "wait_seconds must be >= 0", 8: "wrap_seconds must be >= 0"}


def test_voice_features_must_be_finite_and_durations_non_negative(conn, tmp_path):
    landing = tmp_path / "landing"
    (landing / "voice_features").mkdir(parents=True)
    n = 6
    table = {"recording_id": ["R1"] * n, "conversation_id": ["CV1"] * n, "turn_index": [0, 1, 2, 3, 4, -1],
             "speaker": ["agent"] * n, "start_offset_s": [0.0, 1.0, 2.0, 3.0, -4.0, 5.0],
             "duration_s": [1.0, -1.0, 1.0, 1.0, 1.0, 1.0], "pitch_mean_hz": [200.0, 200.0, math.inf, 200.0, 200.0, 200.0],
             "pitch_var": [10.0, 10.0, 10.0, math.nan, 10.0, 10.0], "energy_db": [-20.0] * n,
             "speaking_rate_sps": [4.0] * n}
    pq.write_table(pa.table(table), landing / "voice_features" / "v.parquet")
    load_source(conn, SOURCE_BY_NAME["voice_features"], landing)
    assert quarantine(conn, "voice_features/v.parquet") == {
        2: "duration_s must be >= 0", 3: "pitch_mean_hz: inf is not a finite number",
        4: "pitch_var: nan is not a finite number", 5: "start_offset_s must be >= 0", 6: "turn_index must be >= 0"}
    assert conn.execute("select energy_db from raw.voice_features").fetchall() == [(-20.0,)]  # dB may be negative


def test_negative_order_quantities_and_prices_are_quarantined(conn, tmp_path):
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    pq.write_table(pa.table({"order_id": ["O1", "O2", "O3", "O4"], "line_number": [1, 1, 1, -1],
                             "customer_id": ["C1"] * 4, "ordered_at": ["2026-01-01 10:00:00"] * 4,
                             "product_id": ["P1"] * 4, "quantity": [1, -2, 1, 1], "unit_price": [9.5, 9.5, -1.0, 9.5]}),
                   landing / "orders" / "o.parquet")
    load_source(conn, SOURCE_BY_NAME["orders"], landing)
    assert quarantine(conn, "orders/o.parquet") == {2: "quantity must be >= 0", 3: "unit_price must be >= 0",
                                                    4: "line_number must be >= 0"}


def test_every_numeric_field_of_the_contract_has_a_rule():
    """A new count or duration added to the contract without a range rule fails here, not in the marts."""
    from warehouse.ingest import _problem_sql

    unguarded = [f"{s.name}.{c.name}" for s in SOURCES for c in s.columns
                 if c.type in ("INTEGER", "BIGINT", "DOUBLE") and not c.check and c.name != "energy_db"]
    assert unguarded == []
    doubles = [c for s in SOURCES for c in s.columns if c.type == "DOUBLE"]
    assert all(any("is not a finite number" in p for p in _problem_sql(c, 10, "UTC")) for c in doubles)
    assert [r.predicate for r in CONVERSATIONS.row_checks] == ["{ended_at} >= {started_at}"]


def test_a_key_delivered_in_two_files_keeps_the_latest_export_and_is_reported(conn, tmp_path):
    landing = tmp_path / "landing"
    newer = write(landing / "conversations" / "a_export.jsonl", jsonl(conversation("CV1", disposition="resolved")))
    older = write(landing / "conversations" / "b_export.jsonl",
                  jsonl(conversation("CV1", disposition="follow_up"), conversation("CV2")))
    os.utime(older, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    os.utime(newer, ns=(1_700_000_100 * 10**9, 1_700_000_100 * 10**9))  # written later, name sorts first
    load_source(conn, CONVERSATIONS, landing)
    dups = conn.execute("select source, natural_key, source_file, line, kept_file, kept_line, versions "
                        "from raw.duplicate_keys").fetchall()
    assert dups == [("conversations", "conversation_id=CV1", "conversations/b_export.jsonl", 1,
                     "conversations/a_export.jsonl", 1, 2)]
    # The dbt macro staging uses picks the same version: one rule, written twice, checked here.
    from warehouse.ingest import LATEST_FIRST

    macro = (Path(__file__).resolve().parents[1] / "dbt" / "macros" / "latest_first.sql").read_text()
    order = re.search(r"macro latest_first\(\) -%}\s*(.*?)\s*{%- endmacro", macro, re.S).group(1)
    assert " ".join(order.split()) == LATEST_FIRST
    kept = conn.execute(f"select disposition from raw.conversations where conversation_id = 'CV1' "
                        f"order by {order} limit 1").fetchone()[0]
    assert kept == "resolved"


def test_an_older_day_in_the_file_name_never_beats_a_newer_one(conn, tmp_path):
    landing = tmp_path / "landing"
    newer_day = write(landing / "conversations" / "c_2026-01-02.jsonl", jsonl(conversation("CV1", disposition="resolved")))
    redelivered = write(landing / "conversations" / "c_2026-01-01.jsonl", jsonl(conversation("CV1")))
    os.utime(newer_day, ns=(1_700_000_000 * 10**9,) * 2)
    os.utime(redelivered, ns=(1_700_000_500 * 10**9,) * 2)  # copied in later, but an older export
    load_source(conn, CONVERSATIONS, landing)
    assert conn.execute("select source_file, kept_file from raw.duplicate_keys").fetchall() == [
        ("conversations/c_2026-01-01.jsonl", "conversations/c_2026-01-02.jsonl")]


def test_rows_loaded_before_the_file_time_existed_get_it_from_the_manifest(conn, tmp_path):
    from warehouse.ingest import ensure_schema

    landing = tmp_path / "landing"
    path = write(landing / "conversations" / "c.jsonl", jsonl(conversation()))
    load_source(conn, CONVERSATIONS, landing)
    conn.execute("alter table raw.conversations drop column _file_modified_at")  # as an older version left it
    ensure_schema(conn, (CONVERSATIONS,))
    got = conn.execute("select epoch_ns(_file_modified_at) from raw.conversations").fetchone()[0]
    assert got == path.stat().st_mtime_ns // 1000 * 1000


# ---- 7. time zones ------------------------------------------------------------------------------

def load_times(conn, landing: Path, stamps: dict[str, str], timezone: str, **kw) -> dict[str, str]:
    """Load one turn per stamp (text = the stamp's name); returns text -> local time loaded."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [HEADER.split(",")] + [["CV1", i, "agent", ts, name] for i, (name, ts) in enumerate(stamps.items())])
    write(landing / "turns" / "t.csv", out.getvalue())
    load_source(conn, TURNS, landing, timezone=timezone, **kw)
    return {t: str(ts) for t, ts in conn.execute("select text, ts from raw.turns").fetchall()}


def test_offsets_written_with_utc_or_gmt_keep_their_sign(conn, tmp_path):
    stamps = {"utc+3": "2026-01-01 09:00:00 UTC+3", "utc-8": "2026-01-01 09:00:00 UTC-8",
              "gmt-5": "2026-01-01 09:00 GMT-5", "utc+0530": "2026-01-01 09:00:00 UTC+05:30",
              "iso": "2026-01-01T09:00:00-08:00", "compact": "2026-01-01 09:00:00 -0800", "zulu": "2026-01-01T09:00:00Z",
              "utc": "2026-01-01 09:00:00 UTC", "e-mail": "Thu, 01 Jan 2026 09:00:00 -0800"}
    got = load_times(conn, tmp_path / "landing", stamps, "UTC")
    assert got == {"utc+3": "2026-01-01 06:00:00", "utc-8": "2026-01-01 17:00:00", "gmt-5": "2026-01-01 14:00:00",
                   "utc+0530": "2026-01-01 03:30:00", "iso": "2026-01-01 17:00:00", "compact": "2026-01-01 17:00:00",
                   "zulu": "2026-01-01 09:00:00", "utc": "2026-01-01 09:00:00", "e-mail": "2026-01-01 17:00:00"}


def test_iana_names_are_read_as_iana_defines_them(conn, tmp_path):
    """Etc/GMT+5 is UTC-5 (POSIX inverts the sign); EST5EDT is US Eastern with daylight saving."""
    stamps = {"etc": "2026-01-01 09:00:00 Etc/GMT+5", "posix winter": "2026-01-01 09:00:00 EST5EDT",
              "posix summer": "2026-07-01 09:00:00 EST5EDT", "region": "2026-07-01 09:00:00 America/New_York",
              "shanghai": "2026-01-01 09:00:00 Asia/Shanghai"}
    got = load_times(conn, tmp_path / "landing", stamps, "UTC")
    assert got == {"etc": "2026-01-01 14:00:00", "posix winter": "2026-01-01 14:00:00",
                   "posix summer": "2026-07-01 13:00:00", "region": "2026-07-01 13:00:00",
                   "shanghai": "2026-01-01 01:00:00"}


def test_a_morning_at_utc_minus_8_lands_on_the_right_day(conn, tmp_path):
    got = load_times(conn, tmp_path / "landing", {"late": "2026-01-01 20:00:00 UTC-8"}, "UTC")
    assert got == {"late": "2026-01-02 04:00:00"}  # the next UTC day
    conn.execute("delete from raw.turns; delete from raw._load_manifest")
    got = load_times(conn, tmp_path / "landing2", {"morning": "2026-01-01 09:00 UTC-8"}, "Asia/Shanghai")
    assert got == {"morning": "2026-01-02 01:00:00"}  # 17:00 UTC is already the next day in Shanghai


def test_ambiguous_abbreviations_are_quarantined_unless_mapped(conn, tmp_path):
    stamps = {abbr: f"2026-01-01 09:00:00 {abbr}" for abbr in ("CST", "BST", "IST", "EST", "PST")}
    got = load_times(conn, tmp_path / "landing", stamps, "UTC")
    assert got == {}
    reasons = quarantine(conn, "turns/t.csv")
    assert all("is ambiguous" in r and "SI_TZ_ABBREVIATIONS" in r for r in reasons.values())
    assert "ts: time zone abbreviation 'CST' is ambiguous" in reasons[2]
    mapped = load_times(conn, tmp_path / "mapped", {"china": "2026-01-01 09:00:00 CST", "ist": "2026-01-01 09:00 IST"},
                        "UTC", zone_abbreviations={"CST": "Asia/Shanghai", "IST": "+05:30"})
    assert mapped == {"china": "2026-01-01 01:00:00", "ist": "2026-01-01 03:30:00"}


def test_the_abbreviation_map_comes_from_the_settings_per_source(conn, tmp_path, monkeypatch):
    from service_insight.settings import get_settings

    monkeypatch.setenv("SI_TZ_ABBREVIATIONS", "CST=America/Chicago; turns:CST=Asia/Shanghai")
    assert get_settings().zone_abbreviations("calls") == {"CST": "America/Chicago"}
    got = load_times(conn, tmp_path / "landing", {"china": "2026-01-01 09:00:00 CST"}, "UTC")
    assert got == {"china": "2026-01-01 01:00:00"}
    monkeypatch.setenv("SI_TZ_ABBREVIATIONS", "CST=Mars/Olympus")
    with pytest.raises(ValueError, match="neither an IANA time zone name"):
        get_settings()


@pytest.mark.parametrize("entry", ["UTC=Asia/Shanghai", "gmt=+08:00", "Z=+01:00", "turns:UT=+02:00", "UCT=UTC"])
def test_names_that_always_mean_utc_cannot_be_mapped(entry):
    from service_insight.settings import parse_zone_abbreviations

    with pytest.raises(ValueError, match="always means UTC and is read as UTC; remove the entry"):
        parse_zone_abbreviations(entry)


@pytest.mark.parametrize("entry", ["AM=Asia/Shanghai", "calls:pm=+08:00"])
def test_am_and_pm_cannot_be_mapped(entry):
    from service_insight.settings import parse_zone_abbreviations

    with pytest.raises(ValueError, match="is not a time zone but half of a 12-hour clock"):
        parse_zone_abbreviations(entry)


def test_a_zone_map_for_an_unknown_source_stops_the_run(monkeypatch):
    from service_insight.settings import get_settings

    monkeypatch.setenv("SI_TZ_ABBREVIATIONS", "CST=Asia/Shanghai; call:CST=America/Chicago")  # meant: calls
    known = ", ".join(sorted(s.name for s in SOURCES))
    with pytest.raises(ValueError, match=re.escape(f"'call' is not a landing source; known sources: {known}")):
        get_settings()


def test_each_zoned_time_is_split_once_and_its_offset_read_once(conn):
    """Written inline, the split ran about ten times per value (a zoned load took 2.5 times as long)."""
    from warehouse.ingest import _OFFSET_PARTS, _ZONE_SPLIT, _ZONED, _checked_sql, _create_zone_macro

    sql = _checked_sql(CONVERSATIONS, ["''"], "UTC", {"CST": "Asia/Shanghai"})
    zoned = [c.name for c in CONVERSATIONS.columns if c.type == "TIMESTAMP"]
    assert zoned == ["started_at", "ended_at"]
    assert (sql.count(_ZONED), sql.count(_ZONE_SPLIT), sql.count(_OFFSET_PARTS)) == (2, 2, 2)
    stage = pa.table({c.name: pa.array(["2026-01-01 09:00:00 +08:00"], pa.string()) for c in CONVERSATIONS.columns})
    conn.register("_stage_arrow", stage)
    _create_zone_macro(conn)
    cur = conn.execute(sql)
    assert [d[0] for d in cur.description if d[0].startswith("_")] == [  # the helper columns are dropped again
        *(f"_t_{c.name}" for c in CONVERSATIONS.columns), "_zp_started_at", "_zp_ended_at", "_reason"]
    row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    assert (str(row["_t_started_at"]), row["_zp_started_at"], row["_reason"]) == ("2026-01-01 01:00:00", None, "")


def test_unknown_zones_and_impossible_offsets_are_quarantined(conn, tmp_path):
    stamps = {"mars": "2026-01-01 09:00:00 Mars/Olympus", "far": "2026-01-01 09:00:00 UTC+25",
              "pm": "2026-01-01 09:00:00 PM"}
    assert load_times(conn, tmp_path / "landing", stamps, "UTC") == {}
    assert quarantine(conn, "turns/t.csv") == {
        2: "ts: unknown time zone 'Mars/Olympus'; write an offset such as -05:00 or an IANA name such as America/New_York",
        3: "ts: UTC offset 'UTC+25' is out of range (at most 14 hours)",
        4: "ts: 12-hour times (AM/PM) are not read; export 24-hour times"}


def test_times_at_the_edge_of_the_calendar_are_quarantined_not_a_crash(conn, tmp_path):
    """Guard for the zone arithmetic: shifting the last representable second by -14:00 overflows."""
    stamps = {"edge": "294247-01-10 04:00:54 -14:00", "first": "0001-01-01 00:00:00 +14:00",
              "infinite": "infinity UTC", "nul": "2026-01-01 09:00 \x00", "fine": "2026-01-01 09:00 UTC+1"}
    assert load_times(conn, tmp_path / "landing", stamps, "UTC") == {"fine": "2026-01-01 08:00:00"}
    assert len(quarantine(conn, "turns/t.csv")) == 4


def test_a_stray_quote_on_every_line_gives_one_short_note():
    """Thousands of quote-error ranges are summarised in one capped note (a note per range grew quadratically)."""
    from warehouse.ingest import ParsedFile

    parsed = ParsedFile.__new__(ParsedFile)
    parsed.note, parsed.quote_error_ranges = "", [(i, i + 1) for i in range(2, 40_000, 2)]
    parsed.note_quote_errors()
    assert parsed.note.startswith("quote errors: lines 2-3, 4-5") and "and 19,979 more" in parsed.note
    assert len(parsed.note) < 400
