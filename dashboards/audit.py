"""Who signed in, who failed, who exported what, whose role changed: an append-only audit log.

Why a file and not a warehouse table: the dashboards read only the published snapshot (never the
writer's DuckDB file, which a build may hold locked), and an audit record must be written the
moment it happens, from any dashboard process. Each event is one JSON line appended with a single
``write`` on a file opened in append mode, so concurrent sessions never interleave half lines; the
build copies the file into ``raw.audit_events`` (a warehouse table analysts can query), and the
Admin page reads the file itself so it is never a build behind.

The same log drives sign-in throttling: after ``FREE_FAILURES`` consecutive failed sign-ins for a
user name, the next attempt must wait ``2 ** (failures - FREE_FAILURES + 1)`` seconds (capped at
``MAX_WAIT_SECONDS``), counted from the last failure. Kept in the log rather than in memory, the
back-off holds across browser sessions, dashboard processes and restarts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

FREE_FAILURES = 3
MAX_WAIT_SECONDS = 900
TAIL_BYTES = 2_000_000  # throttling reads the recent end of the log, not all of it
EVENTS = ("sign_in", "sign_in_failed", "sign_in_throttled", "sign_out", "export", "role_change")


def audit_path() -> Path:
    from service_insight.settings import get_settings

    return get_settings().audit_log


def record(event: str, user: str | None, path: Path | None = None, **detail) -> dict:
    """Append one event (UTC time, event, user, details) and return it."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}; known: {', '.join(EVENTS)}")
    path = path or audit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "event": event,
             "user": (user or "")[:200], **{k: v for k, v in detail.items() if v is not None}}
    line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return entry


def read_events(path: Path | None = None, tail_bytes: int | None = None) -> list[dict]:
    """Events in the order written (only the last ``tail_bytes`` when given); unreadable lines are skipped."""
    path = path or audit_path()
    if not path.exists():
        return []
    with path.open("rb") as fh:
        if tail_bytes is not None and path.stat().st_size > tail_bytes:
            fh.seek(-tail_bytes, os.SEEK_END)
            fh.readline()  # a partial first line
        data = fh.read()
    events = []
    for raw in data.splitlines():
        try:
            events.append(json.loads(raw))
        except ValueError:
            continue
    return events


@dataclass(frozen=True)
class Throttle:
    failures: int  # consecutive failed sign-ins since the last success
    wait_seconds: float  # how long until the next attempt is allowed (0: now)


def throttle_for(user: str, now: datetime | None = None, path: Path | None = None) -> Throttle:
    """The back-off that applies to ``user`` now, from the failures recorded since their last sign-in."""
    now = now or datetime.now(timezone.utc)
    failures, last_failure = 0, None
    for event in read_events(path, TAIL_BYTES):
        if event.get("user") != user:
            continue
        if event.get("event") == "sign_in":
            failures, last_failure = 0, None
        elif event.get("event") == "sign_in_failed":
            failures += 1
            last_failure = datetime.fromisoformat(event["at"])
    if failures < FREE_FAILURES or last_failure is None:
        return Throttle(failures, 0.0)
    wait = min(2.0 ** (failures - FREE_FAILURES + 1), MAX_WAIT_SECONDS)
    elapsed = max(0.0, (now - last_failure).total_seconds())  # a clock that stepped back never extends the wait
    return Throttle(failures, max(0.0, wait - elapsed))
