"""The review queue: blind double review, uncertainty first, adjudication, labels as landing files."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb
import pytest

from warehouse.review import (Label, ReviewRefused, check_reviewer, disagreements, merge, queue, record_labels,
                              written_labels)

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc)


def test_the_queue_completes_pairs_first_then_asks_about_the_least_certain():
    candidates = [("c1", 0.95), ("c2", 0.20), ("c3", None), ("c4", 0.55), ("c5", 0.10), ("c6", 0.30)]
    labels = [Label("intent", "c4", None, "bo", "refund"),  # one other reviewer: complete the pair first
              Label("intent", "c5", None, "bo", "refund"), Label("intent", "c5", None, "cy", "refund"),  # done
              Label("intent", "c6", None, "ann", "refund")]  # ann's own
    assert queue(candidates, labels, "ann") == ["c4", "c2", "c1", "c3"]
    assert queue(candidates, labels, "ann", size=2) == ["c4", "c2"]
    assert queue(candidates, labels, "bo") == ["c6", "c2", "c1", "c3"]


def test_a_reviewer_labels_a_conversation_once_and_never_adjudicates_their_own(tmp_path):
    first = [Label("intent", "c1", None, "ann", "refund"), Label("emotion", "c1", 0, "ann", "anger"),
             Label("act", "c1", 1, "ann", "empathy")]
    record_labels(tmp_path, "ann", first, [], now=NOW)
    known = written_labels(tmp_path)
    assert sorted(known, key=lambda x: x.kind) == sorted(first, key=lambda x: x.kind)
    with pytest.raises(ReviewRefused, match="already labelled this conversation"):
        record_labels(tmp_path, "ann", [Label("intent", "c1", None, "ann", "billing")], known, now=NOW)
    with pytest.raises(ReviewRefused, match="signed-in reviewer's own"):
        record_labels(tmp_path, "ann", [Label("intent", "c2", None, "bo", "billing")], known, now=NOW)
    with pytest.raises(ReviewRefused, match="only a record two reviewers labelled differently"):
        record_labels(tmp_path, "cy", [Label("intent", "c1", None, "cy", "refund", adjudicated=True)], known, now=NOW)
    record_labels(tmp_path, "bo", [Label("intent", "c1", None, "bo", "billing"), Label("emotion", "c1", 0, "bo", "anger")],
                  known, now=NOW)
    known = written_labels(tmp_path)
    assert disagreements(known) == [(("intent", "c1", None), {"ann": "refund", "bo": "billing"})]
    assert disagreements(known, adjudicator="ann") == []  # not one of the two
    with pytest.raises(ReviewRefused, match="another supervisor adjudicates"):
        record_labels(tmp_path, "ann", [Label("intent", "c1", None, "ann", "refund", adjudicated=True)], known, now=NOW)
    record_labels(tmp_path, "cy", [Label("intent", "c1", None, "cy", "billing", adjudicated=True)], known, now=NOW)
    assert disagreements(written_labels(tmp_path)) == []
    with pytest.raises(ReviewRefused, match="reviewer name"):
        check_reviewer("../etc/passwd")


def test_review_labels_are_landing_files_the_loader_takes_without_quarantine(tmp_path):
    from warehouse.ingest import load_source
    from warehouse.sources import SOURCES

    landing = tmp_path / "landing"
    record_labels(landing, "ann", [Label("intent", "c1", None, "ann", "refund 退款"),
                                   Label("emotion", "c1", 0, "ann", "anger")], [], now=NOW)
    record_labels(landing, "bo", [Label("intent", "c1", None, "bo", "billing")], written_labels(landing), now=NOW)
    record_labels(landing, "cy", [Label("intent", "c1", None, "cy", "billing", adjudicated=True)],
                  written_labels(landing), now=NOW)
    files = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*.jsonl"))
    assert files == ["annotations/2026-11-03-review-ann.jsonl", "annotations/2026-11-03-review-bo.jsonl",
                     "annotations/2026-11-03-review-cy.jsonl", "turn_labels/2026-11-03-review-ann.jsonl"]
    assert not [p for p in landing.rglob(".*")]  # nothing else lands: a hidden file would be reported
    specs = {s.name: s for s in SOURCES}
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        for name in ("annotations", "turn_labels"):
            loaded = load_source(conn, specs[name], landing, timezone="UTC")
            assert loaded.rows_quarantined == 0 and loaded.rows_loaded > 0, loaded
        rows = conn.execute("select annotator, intent, adjudicated from raw.annotations order by annotator").fetchall()
    assert rows == [("ann", "refund 退款", False), ("bo", "billing", False), ("cy", "billing", True)]
    line = json.loads((landing / "turn_labels/2026-11-03-review-ann.jsonl").read_text().splitlines()[0])
    assert line["label_id"] == "review:ann:c1:0:emotion" and line["labelled_at"] == "2026-11-03T09:30:00Z"


def test_labels_from_the_warehouse_and_from_new_files_merge_one_per_reviewer():
    built = [Label("intent", "c1", None, "ann", "refund")]
    fresh = [Label("intent", "c1", None, "ann", "refund"), Label("intent", "c2", None, "ann", "billing")]
    assert len(merge(built, fresh)) == 2


def test_reviewers_of_any_script_keep_their_name_and_a_foreign_line_is_skipped_not_fatal(tmp_path):
    paths = record_labels(tmp_path, "张伟", [Label("intent", "c1", None, "张伟", "退款")], [], now=NOW)
    assert paths[0].name.startswith("2026-11-03-review-__-") and paths[0].name.endswith(".jsonl")
    with paths[0].open("a", encoding="utf-8") as fh:
        fh.write('{"conversation_id": "c2"}\nnot json\n')
    problems: list[str] = []
    labels = written_labels(tmp_path, problems)
    assert labels == [Label("intent", "c1", None, "张伟", "退款")]
    assert len(problems) == 2 and "line 2" in problems[0] and "line 3" in problems[1]
    assert check_reviewer("José María") == "José María"
