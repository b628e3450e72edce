"""Importer for the ABCD customer-service format (Chen et al., 2021), a public chat corpus.

Why: it shows how a user's own exports come in. ABCD conversations carry the customer's
profile, the order, the gold intent (flow/subflow) and the turns (agent, customer, and system
"action" lines) but no timestamps; we lay the turns out 20 s apart from a start time you choose.
The result is ordinary landing files, so they go through the same validation and quarantine.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

_SPEAKERS = {"agent": "agent", "customer": "customer", "action": "system"}


def _customer_id(personal: dict[str, Any], convo_id: Any) -> str:
    handle = personal.get("username") or personal.get("email") or str(convo_id)
    return f"ABCD-{handle}"


def import_abcd(source: Path, landing_dir: Path, start: datetime) -> dict[str, int]:
    """Write ABCD conversations as landing files; returns how many rows of each were written."""
    convos = json.loads(source.read_text(encoding="utf-8"))
    if isinstance(convos, dict):  # the full corpus is {"train": [...], "dev": [...], "test": [...]}
        convos = [c for split in convos.values() for c in split]
    tag = f"abcd_{start:%Y-%m-%d}"
    headers, turns, annotations, customers = [], [], [], {}
    for n, convo in enumerate(convos):
        scenario = convo.get("scenario", {})
        personal = scenario.get("personal", {})
        order = scenario.get("order", {})
        cid = f"ABCD{convo['convo_id']}"
        customer_id = _customer_id(personal, convo["convo_id"])
        began = start + timedelta(minutes=7 * n)
        lines = convo.get("original", [])
        for i, (speaker, text) in enumerate(lines):
            turns.append({"conversation_id": cid, "turn_index": i, "speaker": _SPEAKERS.get(speaker, "system"),
                          "ts": (began + timedelta(seconds=20 * i)).strftime("%Y-%m-%d %H:%M:%S"), "text": text})
        headers.append({
            "conversation_id": cid, "channel": "chat", "started_at": began.strftime("%Y-%m-%d %H:%M:%S"),
            "ended_at": (began + timedelta(seconds=20 * max(len(lines) - 1, 0))).strftime("%Y-%m-%d %H:%M:%S"),
            "customer_id": customer_id, "queue_id": "Q_general", "final_queue_id": "Q_general",
            "ui_locale": "en-US", "order_id": order.get("order_id"), "disposition": None, "transfer_count": 0,
            "handle_seconds": 20 * len(lines),
        })
        name = (personal.get("customer_name") or "").title()
        customers[customer_id] = {
            "customer_id": customer_id, "full_name": name, "given_name": name.split(" ")[0] if name else "",
            "family_name": name.split(" ")[-1] if name else "", "language": "en",
            "phone": personal.get("phone", ""), "email": personal.get("email", ""), "id_card": "", "bank_card": "",
            "city": order.get("city", ""), "segment": personal.get("member_level", ""), "signup_date": "",
        }
        if scenario.get("flow"):
            annotations.append({
                "annotation_id": f"{cid}-gold", "conversation_id": cid, "annotator": "abcd_gold",
                "intent": f"{scenario['flow']}/{scenario.get('subflow', '')}", "emotion": None, "resolved": None,
                "labelled_at": began.strftime("%Y-%m-%d %H:%M:%S"),
            })
    for folder in ("conversations", "turns", "customers", "annotations"):
        (landing_dir / folder).mkdir(parents=True, exist_ok=True)
    with (landing_dir / "conversations" / f"{tag}.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(h, ensure_ascii=False) + "\n" for h in headers)
    with (landing_dir / "annotations" / f"{tag}.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(a, ensure_ascii=False) + "\n" for a in annotations)
    _csv(landing_dir / "turns" / f"{tag}.csv", turns)
    _csv(landing_dir / "customers" / f"{tag}.csv", list(customers.values()))
    return {"conversations": len(headers), "turns": len(turns), "customers": len(customers),
            "annotations": len(annotations)}


def _csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
