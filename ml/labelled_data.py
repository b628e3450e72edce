"""Reading users' labelled files (CSV or JSON Lines with ``text`` and ``label``).

Bad rows are reported with their line and reason, never silently dropped.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LabelledSet:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    lines: list[int] = field(default_factory=list)  # source line of each kept row


def read_labelled(path: Path, need_label: bool = True) -> LabelledSet:
    out = LabelledSet()
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except ValueError as exc:
                out.rejected.append((lineno, f"invalid JSON: {exc}"))
    elif path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if "text" not in (reader.fieldnames or []):
                raise ValueError(f"{path}: a 'text' column is required (found {reader.fieldnames})")
            rows = [(reader.line_num, r) for r in reader]
    else:
        raise ValueError(f"{path}: use a .csv or .jsonl file with text,label")
    for lineno, row in rows:
        if not isinstance(row, dict):
            out.rejected.append((lineno, "expected an object with text and label"))
            continue
        text = "" if row.get("text") is None else str(row["text"]).strip()
        label = "" if row.get("label") is None else str(row["label"]).strip()  # 0 is a label
        if not text:
            out.rejected.append((lineno, "empty text"))
        elif need_label and not label:
            out.rejected.append((lineno, "empty label"))
        else:
            out.texts.append(text)
            out.labels.append(label)
            out.lines.append(lineno)
    return out
