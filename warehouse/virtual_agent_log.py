"""Every virtual-agent contact lands as an ordinary contact: header, turns, voice features, survey.

Why through the landing folder and not straight into the warehouse: the virtual agent is one more
channel of the contact centre, so its contacts must pass the same validation, PII masking, marts and
dashboards as an export from any platform (containment, hand-over reasons, CSAT, emotion from the
customer's voice). Each page session is one conversation; after every exchange its files are
rewritten whole (temp file + rename, and not at all when nothing changed), so the loader replaces
the session's earlier rows and never reads half a file.

What is written, per session ``S`` started on day ``D`` (the conversation id is ``VA-D-S``):
- ``conversations/virtual-agent_D_S.jsonl``: channel ``phone`` when the customer spoke, else ``chat``;
  queue ``SI_VIRTUAL_AGENT_QUEUE``; a hand-over is a transfer (``transfer_count`` 1, disposition
  ``escalated``); otherwise no wrap-up code (``unknown`` after staging): the page cannot know whether the
  answer solved the problem, so first-contact resolution does not count these contacts;
- ``turns/virtual-agent_D_S.csv``: customer turns, ``bot`` turns, and a ``system`` turn
  ``[hand-over] reason; reason`` where the agent handed over (the marts read the reasons from it);
- ``voice_features/virtual-agent_D_S.parquet``: the prosody of each spoken customer turn;
- ``surveys/virtual-agent_D_S.csv``: the customer's 1-5 rating, when given;
- ``customers/virtual-agent_S.csv``: the anonymous visitor (``va-S``) with the language heard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from warehouse.importers.common import csv_text, jsonl_text, utc_text, write_if_changed

HANDOVER_PREFIX = "[hand-over] "
FILE_PREFIX = "virtual-agent"


@dataclass
class Exchange:
    """One message of the customer and the agent's answer to it."""
    asked_at: datetime  # aware UTC
    replied_at: datetime
    customer_text: str
    reply: str
    language: str
    handed_over: bool = False
    reasons: tuple[str, ...] = ()
    voice: dict | None = None  # ml.speech.prosody() of the customer's recording, when spoken


@dataclass
class VirtualAgentContact:
    session_id: str
    queue_id: str
    exchanges: list[Exchange] = field(default_factory=list)
    csat: int | None = None
    csat_at: datetime | None = None

    @property
    def started_at(self) -> datetime:
        return self.exchanges[0].asked_at

    @property
    def conversation_id(self) -> str:
        return f"VA-{self.started_at:%Y%m%d}-{self.session_id}"

    @property
    def customer_id(self) -> str:
        return f"va-{self.session_id}"

    @property
    def handed_over(self) -> bool:
        return any(e.handed_over for e in self.exchanges)


TURN_COLUMNS = ["conversation_id", "turn_index", "speaker", "ts", "text"]
SURVEY_COLUMNS = ["survey_id", "conversation_id", "responded_at", "csat", "nps"]
CUSTOMER_COLUMNS = ["customer_id", "language", "segment"]


def contact_rows(contact: VirtualAgentContact) -> dict[str, list[dict]]:
    """The landing rows of one contact, per source."""
    cid, exchanges = contact.conversation_id, contact.exchanges
    turns, voice = [], []
    for e in exchanges:
        index = len(turns)
        turns.append({"conversation_id": cid, "turn_index": index, "speaker": "customer",
                      "ts": utc_text(e.asked_at), "text": e.customer_text})
        if e.voice:
            voice.append({"recording_id": cid, "conversation_id": cid, "turn_index": index,  # the call is one recording
                          "speaker": "customer", "start_offset_s": 0.0, **e.voice})
        if e.reply:
            turns.append({"conversation_id": cid, "turn_index": len(turns), "speaker": "bot",
                          "ts": utc_text(e.replied_at), "text": e.reply})
        if e.handed_over:
            turns.append({"conversation_id": cid, "turn_index": len(turns), "speaker": "system",
                          "ts": utc_text(e.replied_at),
                          "text": HANDOVER_PREFIX + ("; ".join(e.reasons) or "no reason given")})
    first, last = exchanges[0], exchanges[-1]
    header = {
        "conversation_id": cid, "channel": "phone" if voice else "chat",
        "started_at": utc_text(first.asked_at), "ended_at": utc_text(last.replied_at),
        "customer_id": contact.customer_id, "agent_id": None, "queue_id": contact.queue_id,
        "final_queue_id": contact.queue_id, "ui_locale": first.language or None, "order_id": None,
        "disposition": "escalated" if contact.handed_over else None,
        "transfer_count": 1 if contact.handed_over else 0,
        "handle_seconds": max(0, round((last.replied_at - first.asked_at).total_seconds())),
        "first_response_seconds": max(0, round((first.replied_at - first.asked_at).total_seconds())),
    }
    surveys = [] if contact.csat is None else [{
        "survey_id": f"{cid}-csat", "conversation_id": cid,
        "responded_at": utc_text(contact.csat_at or last.replied_at), "csat": contact.csat, "nps": None}]
    customers = [{"customer_id": contact.customer_id, "language": first.language or None,
                  "segment": "virtual-agent visitor"}]
    return {"conversations": [header], "turns": turns, "voice_features": voice, "surveys": surveys,
            "customers": customers}


def write_contact(landing_dir: Path, contact: VirtualAgentContact) -> list[Path]:
    """Write (or rewrite) the contact's landing files; returns the files that changed."""
    if not contact.exchanges:
        return []
    rows = contact_rows(contact)
    day, sid = f"{contact.started_at:%Y-%m-%d}", contact.session_id
    stem = f"{FILE_PREFIX}_{day}_{sid}"
    files = {
        landing_dir / "conversations" / f"{stem}.jsonl": jsonl_text(rows["conversations"]).encode("utf-8"),
        landing_dir / "turns" / f"{stem}.csv": csv_text(rows["turns"], TURN_COLUMNS).encode("utf-8"),
        landing_dir / "customers" / f"{FILE_PREFIX}_{sid}.csv":
            csv_text(rows["customers"], CUSTOMER_COLUMNS).encode("utf-8"),
    }
    if rows["surveys"]:
        files[landing_dir / "surveys" / f"{stem}.csv"] = csv_text(rows["surveys"], SURVEY_COLUMNS).encode("utf-8")
    if rows["voice_features"]:
        files[landing_dir / "voice_features" / f"{stem}.parquet"] = _parquet_bytes(rows["voice_features"])
    return [path for path, data in files.items() if write_if_changed(path, data)]


def _parquet_bytes(rows: list[dict]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"recording_id": pa.string(), "conversation_id": pa.string(), "turn_index": pa.int32(),
             "speaker": pa.string(), "start_offset_s": pa.float64(), "duration_s": pa.float64(),
             "pitch_mean_hz": pa.float64(), "pitch_var": pa.float64(), "energy_db": pa.float64(),
             "speaking_rate_sps": pa.float64()}
    table = pa.table({name: pa.array([r.get(name) for r in rows], kind) for name, kind in types.items()})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()
