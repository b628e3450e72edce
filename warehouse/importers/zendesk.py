"""Importer for Zendesk ticket exports: JSON Lines, one ticket per line, with its comments.

The shape is the ticket object of Zendesk's REST and incremental export APIs (``id``,
``created_at``, ``updated_at``, ``status``, ``requester_id``, ``assignee_id``, ``group_id``,
``via.channel``, ``tags``, ``satisfaction_rating``), with the ticket's comments (the Ticket
Comments API: ``id``, ``author_id``, ``body`` or ``html_body``, ``public``, ``created_at``) in a
``comments`` array, as export scripts write them. Times are ISO 8601 in UTC (``…Z``).

What becomes what, and why:
- A ticket is a conversation; ``via.channel`` gives the channel (email, web forms and the API are
  e-mail; chat and messaging are chat; voice is phone; social networks are social). The group is
  the queue (``zendesk:group:<id>``, ``zendesk:no-group`` when none), the assignee the agent.
- Public comments are turns, in time order: the requester's are the customer's, anyone else's the
  agent's. Private notes are internal and are not part of the contact (counted in the report).
  A comment with only ``html_body`` is reduced to its text (tags dropped, entities decoded).
- The requester becomes a customer (``zendesk:user:<id>``); Zendesk exports carry no names or
  contact details on tickets, and none are invented.
- ``satisfaction_rating.score`` good / bad becomes a survey answer of 5 / 1 (Zendesk asks a yes/no
  question; the two ends of the 1-5 scale keep "satisfied" and "not satisfied" apart in CSAT);
  offered and unoffered ratings are not answers and are skipped.
- ``status`` solved or closed is the disposition ``resolved``; new, open, pending and on-hold
  tickets are ``follow_up``.
  Handle time and transfers are not in the export: empty, and listed as missing.

A ticket exported twice (the incremental API repeats updated tickets) is imported once, its latest
``updated_at`` version kept. Bad lines are counted with their reason, never fatal.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable

from warehouse.importers.common import csv_text as _csv
from warehouse.importers.common import jsonl_text as _jsonl
from warehouse.importers.common import utc_text as _utc
from warehouse.importers.common import utc_time as _time
from warehouse.importers.common import ImportFailed, write_if_changed

CHANNELS = {"email": "email", "web": "email", "api": "email", "mobile": "email", "sample_ticket": "email",
            "chat": "chat", "native_messaging": "chat", "messaging": "chat", "whatsapp": "chat", "line": "chat",
            "voice": "phone", "phone": "phone", "twitter": "social", "facebook": "social", "instagram": "social"}
NOT_IN_FORMAT = ("handle_seconds", "transfer_count", "customer names and contact details", "ui_locale")
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"(?i)<\s*(br|/p|/div|/li)\s*/?>")


@dataclass
class ZendeskReport:
    lines_read: int = 0
    tickets: int = 0
    older_versions: int = 0
    rejected: Counter = field(default_factory=Counter)
    private_notes: int = 0
    channels_unknown: Counter = field(default_factory=Counter)
    written: dict[str, int] = field(default_factory=dict)
    files_written: int = 0
    files_unchanged: int = 0

    def reconciles(self) -> bool:
        """Every line is a ticket, an older copy of one, or rejected with a reason."""
        return self.lines_read == self.tickets + self.older_versions + sum(self.rejected.values())

    def as_dict(self) -> dict:
        accounting = (f"{self.lines_read:,} lines read = {self.tickets:,} tickets + {self.older_versions:,} older "
                      f"copies + {sum(self.rejected.values()):,} rejected; {self.private_notes:,} private notes "
                      "left out")
        notes = [f"{n:,} ticket(s) came via {via!r}, an unknown channel: imported as email"
                 for via, n in self.channels_unknown.items()]
        return {"format": "zendesk", "accounting": accounting, "notes": notes, "lines_read": self.lines_read,
                "tickets": self.tickets,
                "older_versions": self.older_versions, "rejected": dict(self.rejected),
                "private_notes_left_out": self.private_notes, "channels_unknown": dict(self.channels_unknown),
                "written": self.written, "files_written": self.files_written,
                "files_unchanged": self.files_unchanged, "not_in_format": list(NOT_IN_FORMAT),
                "reconciles": self.reconciles()}


def comment_text(comment: dict) -> str:
    """The comment's plain text: ``body``, else ``html_body`` without its markup."""
    body = comment.get("body") or comment.get("plain_body")
    if not body and comment.get("html_body"):
        body = _TAG.sub("", _BREAK.sub("\n", str(comment["html_body"])))
    return re.sub(r"[ \t]+", " ", html.unescape(str(body or ""))).strip()


def _ticket(line: str) -> tuple[dict | None, str | None]:
    try:
        ticket = json.loads(line)
    except json.JSONDecodeError:
        return None, "not JSON"
    if isinstance(ticket, dict) and isinstance(ticket.get("ticket"), dict):  # {"ticket": {...}} as the API wraps it
        ticket = {**ticket["ticket"], **{k: v for k, v in ticket.items() if k != "ticket"}}
    if not isinstance(ticket, dict):
        return None, "not a ticket object"
    if not isinstance(ticket.get("id"), (int, str)) or not str(ticket.get("id")).strip():
        return None, "ticket without an id"
    if _time(ticket.get("created_at")) is None:
        return None, "created_at missing or without a time zone"
    if ticket.get("requester_id") in (None, ""):
        return None, "ticket without a requester (a deleted user?)"
    return ticket, None


def import_zendesk(paths: Iterable[Path], landing_dir: Path, since: date | None = None) -> ZendeskReport:
    """Read Zendesk JSON Lines exports and write landing files (conversations, turns, customers, surveys)."""
    report = ZendeskReport()
    latest: dict[str, dict] = {}
    for path in [Path(p) for p in paths]:
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ImportFailed(f"{path}: cannot be read as UTF-8 JSON Lines ({exc})") from exc
        for line in lines:
            if not line.strip():
                continue
            report.lines_read += 1
            ticket, reason = _ticket(line)
            if reason:
                report.rejected[reason] += 1
                continue
            key = str(ticket["id"]).strip()
            known = latest.get(key)
            if known is None:
                latest[key] = ticket
                report.tickets += 1
                continue
            report.older_versions += 1  # the incremental export repeats a ticket each time it changes
            if (_time(ticket.get("updated_at")) or datetime.min.replace(tzinfo=timezone.utc)) >= \
                    (_time(known.get("updated_at")) or datetime.min.replace(tzinfo=timezone.utc)):
                latest[key] = ticket
    conversations, turns, surveys, customers = [], [], [], {}
    for key in sorted(latest, key=lambda k: (len(k), k)):
        ticket = latest[key]
        started = _time(ticket["created_at"])
        if since and started.date() < since:
            continue
        via = str((ticket.get("via") or {}).get("channel") or "").lower()
        channel = CHANNELS.get(via)
        if channel is None:
            report.channels_unknown[via or "(none)"] += 1
            channel = "email"
        requester = str(ticket["requester_id"])
        customer_id = f"zendesk:user:{requester}"
        customers[customer_id] = {"customer_id": customer_id}
        comments = sorted((c for c in ticket.get("comments") or [] if isinstance(c, dict)),
                          key=lambda c: (_time(c.get("created_at")) or started, str(c.get("id"))))
        public = []
        for comment in comments:
            if comment.get("public") is False:
                report.private_notes += 1
                continue
            text = comment_text(comment)
            if text:
                public.append((comment, text))
        ended = max([_time(c.get("created_at")) or started for c, _ in public], default=None)
        status = str(ticket.get("status") or "").lower()
        group = ticket.get("group_id")
        queue = f"zendesk:group:{group}" if group not in (None, "") else "zendesk:no-group"
        conversations.append({
            "conversation_id": f"ZD{key}", "channel": channel, "started_at": _utc(started),
            "ended_at": _utc(ended) if ended else None, "customer_id": customer_id,
            "agent_id": f"zendesk:user:{ticket['assignee_id']}" if ticket.get("assignee_id") else None,
            "queue_id": queue, "final_queue_id": queue, "ui_locale": None, "order_id": None,
            "disposition": "resolved" if status in ("solved", "closed") else "follow_up",
            "transfer_count": None, "handle_seconds": None,
        })
        for i, (comment, text) in enumerate(public):
            author = str(comment.get("author_id") or "")
            turns.append({"conversation_id": f"ZD{key}", "turn_index": i,
                          "speaker": "customer" if author == requester else "agent",
                          "ts": _utc(_time(comment.get("created_at")) or started), "text": text})
        rating = ticket.get("satisfaction_rating") or {}
        score = str(rating.get("score") or "").lower() if isinstance(rating, dict) else ""
        if score in ("good", "bad"):
            answered = _time(rating.get("updated_at")) or _time(ticket.get("updated_at")) or started
            surveys.append({"survey_id": f"ZD{key}-csat", "conversation_id": f"ZD{key}",
                            "responded_at": _utc(answered), "csat": 5 if score == "good" else 1, "nps": None})
    digest = hashlib.sha256(json.dumps(conversations, sort_keys=True).encode()).hexdigest()[:10]
    _put(landing_dir / "conversations" / f"zendesk_{digest}.jsonl", _jsonl(conversations), report, conversations)
    _put(landing_dir / "turns" / f"zendesk_{digest}.csv",
         _csv(turns, ["conversation_id", "turn_index", "speaker", "ts", "text"]), report, turns)
    _put(landing_dir / "customers" / f"zendesk_{digest}.csv",
         _csv(sorted(customers.values(), key=lambda r: r["customer_id"]), ["customer_id"]), report, customers)
    _put(landing_dir / "surveys" / f"zendesk_{digest}.csv",
         _csv(surveys, ["survey_id", "conversation_id", "responded_at", "csat", "nps"]), report, surveys)
    report.written = {"conversations": len(conversations), "turns": len(turns), "customers": len(customers),
                      "surveys": len(surveys)}
    return report


def _put(path: Path, content: str, report: ZendeskReport, rows) -> None:
    if not rows:
        return
    if write_if_changed(path, content.encode("utf-8")):
        report.files_written += 1
    else:
        report.files_unchanged += 1
