"""The review queue's rules and its output: blind labels and adjudications written as landing files.

Why landing files: a label given on the Review page is data like any other; written to
``landing/annotations/`` and ``landing/turn_labels/`` in their contracts, the next build loads,
checks and trains on it exactly as it would on labels exported from an annotation tool, and the
warehouse stays the only place anything is computed. Each reviewer has one file per day
(``<day>-review-<reviewer>.jsonl``), appended in one write under a lock on the file, so two
browser tabs of one reviewer cannot interleave lines.

The rules (double-blind review):
- a reviewer labels a conversation once (its intent, and optionally each customer turn's emotion
  and each agent turn's act) without seeing anyone else's labels;
- the queue offers, first, conversations one other reviewer has labelled (completing a pair), then
  the ones the models are least sure about (lowest intent confidence, or zero-shot margin before
  any model is trained): uncertainty sampling, the labels that teach a model the most;
- a record two reviewers labelled differently goes to adjudication; the adjudicator must not be
  one of the two, and their decision (``adjudicated``) stands over the votes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

KINDS = ("intent", "emotion", "act")
SOURCES = {"intent": "annotations", "emotion": "turn_labels", "act": "turn_labels"}
_REVIEWER = re.compile(r"[^\W_][\w.@' -]{0,63}", re.UNICODE)  # José, 张伟, a.li@x: any script, one line


class ReviewRefused(ValueError):
    """A label the rules do not allow; the message says why."""


@dataclass(frozen=True)
class Label:
    kind: str  # intent | emotion | act
    conversation_id: str
    turn_index: int | None
    annotator: str
    label: str
    adjudicated: bool = False

    @property
    def record(self) -> tuple[str, str, int | None]:
        return self.kind, self.conversation_id, self.turn_index


def check_reviewer(name: str) -> str:
    name = (name or "").strip()
    if not _REVIEWER.fullmatch(name):
        raise ReviewRefused("a reviewer name is 1-64 letters or digits (any script), '_', '.', '@', \"'\", '-' or "
                            "spaces, starting with a letter or digit")
    return name


def review_file(landing_dir: Path, kind: str, reviewer: str, day: str) -> Path:
    """The reviewer's file of the day; the name is kept whole inside, the file name uses a safe form of it
    (ASCII letters, digits, '_.@-'; anything else becomes a short hash of the name)."""
    name = check_reviewer(reviewer)
    slug = re.sub(r"[^A-Za-z0-9_.@-]", "_", name)
    if slug != name:
        slug = f"{slug[:40]}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"
    return Path(landing_dir) / SOURCES[kind] / f"{day}-review-{slug}.jsonl"


def written_labels(landing_dir: Path, problems: list[str] | None = None) -> list[Label]:
    """Every label the Review page has written (built or not yet): what the queue must not offer again.

    A line that is not one of ours (another tool's file with a similar name, a torn write) is skipped and
    named in ``problems``; the build's loader quarantines it with its reason."""
    out = []
    for kind_source in ("annotations", "turn_labels"):
        for path in sorted((Path(landing_dir) / kind_source).glob("*-review-*.jsonl")):
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if kind_source == "annotations":
                        out.append(Label("intent", row["conversation_id"], None, row["annotator"], row["intent"],
                                         bool(row.get("adjudicated"))))
                    else:
                        out.append(Label(row["label_kind"], row["conversation_id"], int(row["turn_index"]),
                                         row["annotator"], row["label"], bool(row.get("adjudicated"))))
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    if problems is not None:
                        problems.append(f"{path.name} line {number}: not a review label ({type(exc).__name__})")
    return out


def merge(*groups: Iterable[Label]) -> list[Label]:
    """One label per (record, reviewer, adjudicated): the built warehouse's and the ones written since."""
    seen: dict[tuple, Label] = {}
    for group in groups:
        for label in group:
            seen[(label.record, label.annotator, label.adjudicated)] = label
    return list(seen.values())


def blind_votes(labels: Iterable[Label]) -> dict[tuple, dict[str, str]]:
    """record -> {reviewer: label} for blind (non-adjudicated) labels."""
    votes: dict[tuple, dict[str, str]] = {}
    for label in labels:
        if not label.adjudicated:
            votes.setdefault(label.record, {})[label.annotator] = label.label
    return votes


def queue(candidates: Sequence[tuple[str, float | None]], labels: Iterable[Label], reviewer: str,
          size: int = 20) -> list[str]:
    """The next conversations for ``reviewer``: (conversation_id, uncertainty score) candidates, lower
    score = less sure; pairs to complete first, then the least sure, then by id."""
    votes = blind_votes(labels)
    out = []
    for conversation_id, score in candidates:
        voters = votes.get(("intent", conversation_id, None), {})
        if reviewer in voters or len(voters) >= 2:
            continue
        out.append((0 if len(voters) == 1 else 1, float("inf") if score is None else float(score), conversation_id))
    return [c for _, _, c in sorted(out)[:size]]


def disagreements(labels: Iterable[Label], adjudicator: str | None = None) -> list[tuple[tuple, dict[str, str]]]:
    """Records two or more reviewers labelled differently and nobody has adjudicated yet; with
    ``adjudicator``, only those they did not label themselves."""
    labels = list(labels)
    decided = {label.record for label in labels if label.adjudicated}
    out = []
    for record, voters in blind_votes(labels).items():
        if len(voters) >= 2 and len(set(voters.values())) > 1 and record not in decided:
            if adjudicator is None or adjudicator not in voters:
                out.append((record, voters))
    return sorted(out, key=lambda item: (item[0][1], item[0][2] if item[0][2] is not None else -1, item[0][0]))


def record_labels(landing_dir: Path, reviewer: str, new: Sequence[Label], known: Iterable[Label],
                  now: datetime | None = None) -> list[Path]:
    """Write ``new`` labels (all by ``reviewer``) after checking the rules against ``known`` ones.

    Refused: a second blind label by the same reviewer on a record, a label kind or value that is
    empty, an adjudication by one of the record's blind reviewers or of a record with no
    disagreement. Returns the files written.
    """
    reviewer = check_reviewer(reviewer)
    known = list(known)
    votes = blind_votes(known)
    for label in new:
        if label.annotator != reviewer:
            raise ReviewRefused("every label must be the signed-in reviewer's own")
        if label.kind not in KINDS or not str(label.label).strip():
            raise ReviewRefused(f"a {label.kind!r} label needs a value")
        voters = votes.get(label.record, {})
        if label.adjudicated:
            if reviewer in voters:
                raise ReviewRefused("you labelled this record blind: another supervisor adjudicates it")
            if len(voters) < 2 or len(set(voters.values())) < 2:
                raise ReviewRefused("only a record two reviewers labelled differently is adjudicated")
        elif reviewer in voters:
            raise ReviewRefused(f"you have already labelled this {'conversation' if label.kind == 'intent' else 'turn'}")
    now = now or datetime.now(timezone.utc)
    day, stamp = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m-%dT%H:%M:%SZ")
    by_file: dict[Path, list[dict]] = {}
    for label in new:
        suffix = ":adjudication" if label.adjudicated else ""
        if label.kind == "intent":
            row = {"annotation_id": f"review:{reviewer}:{label.conversation_id}{suffix}",
                   "conversation_id": label.conversation_id, "annotator": reviewer, "intent": label.label.strip(),
                   "labelled_at": stamp, "adjudicated": label.adjudicated}
        else:
            row = {"label_id": f"review:{reviewer}:{label.conversation_id}:{label.turn_index}:{label.kind}{suffix}",
                   "conversation_id": label.conversation_id, "turn_index": int(label.turn_index),
                   "annotator": reviewer, "label_kind": label.kind, "label": label.label.strip(),
                   "labelled_at": stamp, "adjudicated": label.adjudicated}
        by_file.setdefault(review_file(landing_dir, label.kind, reviewer, day), []).append(row)
    for path, rows in by_file.items():
        _append_whole(path, rows)
    return sorted(by_file)


def _append_whole(path: Path, rows: list[dict]) -> None:
    """Add the lines in one write under an exclusive lock on the file itself (no helper files: anything
    else in the landing folder would be reported as an unreadable landing entry). A build reading the
    file mid-write sees a changed file at its next run and replaces what it loaded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    with open(path, "ab") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
