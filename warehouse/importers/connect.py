"""Importer for Amazon Connect: contact trace records (CTRs), with Contact Lens transcripts where present.

Contact records are JSON objects with ``ContactId``, ``Channel`` (VOICE, CHAT, EMAIL, TASK),
``InitiationMethod``, ``InitiationTimestamp``, ``DisconnectTimestamp``, ``Queue`` (``Name``,
``Duration`` in queue), ``Agent`` (``Username``, ``AgentInteractionDuration``,
``CustomerHoldDuration``, ``AfterContactWorkDuration``; null when no agent took the contact),
``CustomerEndpoint`` (``Address``), ``PreviousContactId`` / ``NextContactId`` (a transfer makes
a new record) and ``Recording``. The files Kinesis Firehose delivers hold them as JSON Lines, as a
JSON array, or simply one object after another; all three are read. Contact Lens analysis files
(``CustomerMetadata.ContactId``, ``Participants``, ``Transcript`` items with ``ParticipantId``,
``BeginOffsetMillis``, ``Content``) give the turns.

What becomes what, and why:
- Each record is a call (``calls``); a chain of records linked by ``PreviousContactId`` (transfers)
  is one conversation, named after its first record, with ``transfer_count`` = its length - 1,
  the first record's queue as ``queue_id`` and the last one's as ``final_queue_id``.
- A voice contact that no agent took is ``abandoned``; a task is not a customer contact and is
  skipped (counted).
- The caller's number stays in ``calls.caller_number`` (staging turns it into a keyed hash); the
  customer is a keyed pseudonym of it (``connect:caller:…``), since a contact record names no
  customer.
- Turns come from the Contact Lens transcript, their time the agent's connection (else the
  contact's start) plus the item's offset. Contact Lens sentiment, loudness and talk speed are not
  in the contract's units or meaning (reviewed labels, dB, syllables per second): not imported, and
  the report says so.
Disposition is not in a contact record: empty, listed as missing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

from warehouse.importers.common import csv_text as _csv
from warehouse.importers.common import jsonl_text as _jsonl
from warehouse.importers.common import utc_text as _utc
from warehouse.importers.common import utc_time as _time
from warehouse.importers.common import ImportFailed, write_if_changed

CHANNELS = {"VOICE": "phone", "CHAT": "chat", "EMAIL": "email"}
NOT_IN_FORMAT = ("disposition", "ring_seconds", "Contact Lens sentiment, loudness and talk speed (not reviewed "
                 "labels, not dB or syllables/s)")
CALL_COLUMNS = ["call_id", "conversation_id", "queue_id", "ivr_path", "caller_number", "started_at", "ring_seconds",
                "wait_seconds", "talk_seconds", "hold_seconds", "wrap_seconds", "transfers", "abandoned",
                "recording_id"]


@dataclass
class ConnectReport:
    records_read: int = 0
    contacts: int = 0
    duplicates: int = 0
    tasks_skipped: int = 0
    rejected: Counter = field(default_factory=Counter)
    transcripts: int = 0
    transcripts_unmatched: int = 0
    written: dict[str, int] = field(default_factory=dict)
    files_written: int = 0
    files_unchanged: int = 0

    def reconciles(self) -> bool:
        return self.records_read == self.contacts + self.duplicates + self.tasks_skipped + sum(self.rejected.values())

    def as_dict(self) -> dict:
        accounting = (f"{self.records_read:,} contact records read = {self.contacts:,} contacts + "
                      f"{self.duplicates:,} duplicates + {self.tasks_skipped:,} tasks skipped + "
                      f"{sum(self.rejected.values()):,} rejected; {self.transcripts:,} Contact Lens transcripts "
                      f"({self.transcripts_unmatched:,} for contacts not in these records)")
        return {"format": "connect", "accounting": accounting, "records_read": self.records_read,
                "contacts": self.contacts,
                "duplicates": self.duplicates, "tasks_skipped": self.tasks_skipped, "rejected": dict(self.rejected),
                "transcripts": self.transcripts, "transcripts_unmatched": self.transcripts_unmatched,
                "written": self.written, "files_written": self.files_written,
                "files_unchanged": self.files_unchanged, "not_in_format": list(NOT_IN_FORMAT),
                "reconciles": self.reconciles()}


def json_objects(text: str) -> Iterator[Any]:
    """Every JSON value in ``text``: a JSON array's items, JSON Lines, or objects written back to back.

    Yields ``None`` for a stretch that is not JSON and skips to the next line (so one bad record
    costs one record)."""
    text = text.strip()
    if text.startswith("["):
        try:
            yield from json.loads(text)
            return
        except json.JSONDecodeError:
            pass
    decoder, pos = json.JSONDecoder(), 0
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
            yield value
        except json.JSONDecodeError:
            yield None
            newline = text.find("\n", pos)
            pos = len(text) if newline < 0 else newline + 1


def _seconds(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(round(number)) if number >= 0 else None


def _read(paths: Iterable[Path]) -> list[Any]:
    values = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ImportFailed(f"{path}: cannot be read as UTF-8 JSON ({exc})") from exc
        values.extend(json_objects(text))
    return values


def import_connect(record_paths: Iterable[Path], landing_dir: Path, key: str,
                   analysis_paths: Iterable[Path] = ()) -> ConnectReport:
    """Contact records (+ Contact Lens analyses) -> landing files (conversations, calls, turns, customers)."""
    report = ConnectReport()
    records: dict[str, dict] = {}
    for record in _read(record_paths):
        report.records_read += 1
        if not isinstance(record, dict):
            report.rejected["not a JSON object"] += 1
            continue
        contact_id = str(record.get("ContactId") or "").strip()
        if not contact_id:
            report.rejected["record without a ContactId"] += 1
            continue
        if str(record.get("Channel") or "").upper() == "TASK":
            report.tasks_skipped += 1
            continue
        if str(record.get("Channel") or "").upper() not in CHANNELS:
            report.rejected[f"unknown Channel {str(record.get('Channel'))[:20]!r}"] += 1
            continue
        if _time(record.get("InitiationTimestamp")) is None:
            report.rejected["InitiationTimestamp missing or without a time zone"] += 1
            continue
        if contact_id in records:
            report.duplicates += 1  # Firehose delivers at least once: the same record twice is one contact
            continue
        records[contact_id] = record
        report.contacts += 1
    transcripts: dict[str, dict] = {}
    for analysis in _read(analysis_paths):
        contact_id = str(((analysis or {}).get("CustomerMetadata") or {}).get("ContactId") or "") \
            if isinstance(analysis, dict) else ""
        if contact_id in records:
            transcripts[contact_id] = analysis
            report.transcripts += 1
        else:
            report.transcripts_unmatched += 1

    def root(contact_id: str) -> str:
        seen = {contact_id}
        while (previous := str(records[contact_id].get("PreviousContactId") or "")) in records and previous not in seen:
            seen.add(previous)
            contact_id = previous
        return contact_id

    chains: dict[str, list[str]] = {}
    for contact_id in records:
        chains.setdefault(root(contact_id), []).append(contact_id)
    conversations, calls, turns, customers = [], [], [], {}
    for first, members in sorted(chains.items()):
        members.sort(key=lambda c: (_time(records[c]["InitiationTimestamp"]), c))
        head, last = records[members[0]], records[members[-1]]
        channel = CHANNELS[str(head["Channel"]).upper()]
        number = str((head.get("CustomerEndpoint") or {}).get("Address") or "").strip()
        customer_id = ("connect:caller:" + hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()[:16]
                       if number else "connect:unknown")
        customers[customer_id] = {"customer_id": customer_id}
        agents = [r.get("Agent") for r in (records[c] for c in members) if isinstance(r.get("Agent"), dict)]
        handle = [sum(_seconds(a.get(k)) or 0 for k in ("AgentInteractionDuration", "CustomerHoldDuration",
                                                         "AfterContactWorkDuration")) for a in agents]
        conversations.append({
            "conversation_id": f"AC-{first}", "channel": channel,
            "started_at": _utc(_time(head["InitiationTimestamp"])),
            "ended_at": _utc(_time(last.get("DisconnectTimestamp"))), "customer_id": customer_id,
            "agent_id": f"connect:{agents[-1]['Username']}" if agents and agents[-1].get("Username") else None,
            "queue_id": _queue(head), "final_queue_id": _queue(last), "ui_locale": None, "order_id": None,
            "disposition": None, "transfer_count": len(members) - 1, "handle_seconds": sum(handle) if agents else None,
        })
        index = 0
        for contact_id in members:
            record = records[contact_id]
            agent = record.get("Agent") if isinstance(record.get("Agent"), dict) else None
            if channel == "phone":
                queue = record.get("Queue") or {}
                recording = record.get("Recording") or {}
                calls.append({
                    "call_id": contact_id, "conversation_id": f"AC-{first}", "queue_id": _queue(record),
                    "ivr_path": None, "caller_number": number or None,
                    "started_at": _utc(_time(record["InitiationTimestamp"])), "ring_seconds": None,
                    "wait_seconds": _seconds(queue.get("Duration")),
                    "talk_seconds": _seconds((agent or {}).get("AgentInteractionDuration")),
                    "hold_seconds": _seconds((agent or {}).get("CustomerHoldDuration")),
                    "wrap_seconds": _seconds((agent or {}).get("AfterContactWorkDuration")),
                    "transfers": 1 if record.get("NextContactId") in records else 0,
                    "abandoned": str(agent is None).lower(),
                    "recording_id": recording.get("Location") if isinstance(recording, dict) else None,
                })
            analysis = transcripts.get(contact_id)
            if analysis:
                base = _time((agent or {}).get("ConnectedToAgentTimestamp")) or _time(record["InitiationTimestamp"])
                roles = {p.get("ParticipantId"): str(p.get("ParticipantRole") or p.get("ParticipantId") or "").upper()
                         for p in analysis.get("Participants") or [] if isinstance(p, dict)}
                for item in sorted((i for i in analysis.get("Transcript") or [] if isinstance(i, dict)),
                                   key=lambda i: i.get("BeginOffsetMillis") or 0):
                    text = str(item.get("Content") or "").strip()
                    if not text:
                        continue
                    role = roles.get(item.get("ParticipantId"), str(item.get("ParticipantId") or "").upper())
                    offset = timedelta(milliseconds=float(item.get("BeginOffsetMillis") or 0))
                    turns.append({"conversation_id": f"AC-{first}", "turn_index": index,
                                  "speaker": "customer" if role == "CUSTOMER" else "agent" if role == "AGENT"
                                  else "system", "ts": _utc(base + offset), "text": text})
                    index += 1
    digest = hashlib.sha256(json.dumps(sorted(records), separators=(",", ":")).encode()).hexdigest()[:10]
    outputs = (("conversations", "jsonl", conversations, None), ("calls", "csv", calls, CALL_COLUMNS),
               ("turns", "csv", turns, ["conversation_id", "turn_index", "speaker", "ts", "text"]),
               ("customers", "csv", sorted(customers.values(), key=lambda r: r["customer_id"]), ["customer_id"]))
    for source, kind, rows, columns in outputs:
        if not rows:
            continue
        content = _jsonl(rows) if kind == "jsonl" else _csv(rows, columns)
        if write_if_changed(landing_dir / source / f"connect_{digest}.{kind}", content.encode("utf-8")):
            report.files_written += 1
        else:
            report.files_unchanged += 1
    report.written = {"conversations": len(conversations), "calls": len(calls), "turns": len(turns),
                      "customers": len(customers)}
    return report


def _queue(record: dict) -> str:
    queue = record.get("Queue") if isinstance(record.get("Queue"), dict) else {}
    return f"connect:{queue['Name']}" if queue.get("Name") else "connect:no-queue"
