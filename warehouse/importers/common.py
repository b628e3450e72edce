"""What every importer needs: reading zoned times, writing landing files (atomically, and not at all
when the bytes are already there).

Why "not at all": the loader skips a file it has loaded with the same checksum, but a rewritten
file changes its modification time and makes every later run look at it again; an import of the
same export must leave the landing folder exactly as it was.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class ImportFailed(ValueError):
    """The input cannot be imported at all (not the format, unreadable, a wrong mapping): nothing was written."""


def utc_time(value: Any) -> datetime | None:
    """An ISO 8601 time with a zone (``Z``, ``+02:00``) as an aware UTC time; None for anything else
    (a time without a zone is not guessed)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else None


def utc_text(at: datetime | None) -> str | None:
    """How importers write an instant: ISO 8601 in UTC with ``Z`` (the loader converts it once)."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else None


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def csv_text(rows: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (temp file + rename); False when the file already holds exactly these bytes."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")  # hidden: the loader never reads a half-written file
    tmp.write_bytes(data)
    tmp.replace(path)
    return True
