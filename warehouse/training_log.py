"""Trainee-simulator sessions land as ``training_sessions/training_<day>_<session>.jsonl``, one row each.

Why through the landing folder: a practice session is data the warehouse keeps and the progress marts
(``marts/training``) read, with the same validation and masking as any export; the file is rewritten
whole when the session changes (temp file + rename, nothing when unchanged).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from warehouse.importers.common import jsonl_text, utc_text, write_if_changed


def session_row(session_id: str, trainee: str, started_at: datetime, ended_at: datetime, summary: dict,
                conversation_id: str, customer_lines: list[str], turns: list[dict], picked_by: str) -> dict:
    """The contract row of one session (``summary`` is ``ml.simulator.Session.summary()``)."""
    transcript = [{"customer": customer_lines[0]}] + [
        {"trainee": t["reply"], "customer": t["customer_reply"], "outcome": t["outcome"],
         "similarity": t["similarity"], "empathetic": t["empathetic"], "forbidden": t["forbidden"]} for t in turns]
    keep = ("persona_id", "intent", "language", "difficulty", "replies", "goal_met", "customer_left",
            "policy_compliant", "empathy_shown", "de_escalated", "final_mood", "score")
    return {"session_id": session_id, "trainee": trainee, "started_at": utc_text(started_at),
            "ended_at": utc_text(ended_at), "conversation_id": conversation_id, "picked_by": picked_by,
            **{k: summary[k] for k in keep}, "transcript": json.dumps(transcript, ensure_ascii=False)}


def write_session(landing_dir: Path, row: dict) -> bool:
    """Write (or rewrite) the session's file; False when it already held exactly this."""
    day = row["started_at"][:10]
    path = landing_dir / "training_sessions" / f"training_{day}_{row['session_id']}.jsonl"
    return write_if_changed(path, jsonl_text([row]).encode("utf-8"))
