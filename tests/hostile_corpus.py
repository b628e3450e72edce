"""Hostile landing files added beside a generated sample, with what loading each must produce.

Every kind of bad input a real export has produced somewhere: wrong encodings, BOMs, truncated
and nested-broken JSON, CSV with embedded newlines and quotes, missing and extra columns, wrong
types, duplicate ids, empty files, a 50 MB single field, emoji / right-to-left / zero-width text,
SQL-, HTML-, Markdown- and Jinja-injection strings, timestamps in several zones and formats,
future dates, a file in an unknown folder. ``write_hostile_corpus`` writes them and returns the
expected outcome per file (rows in / loaded / quarantined, and each quarantined line's reason),
plus the conversations and turns that must reach the marts intact.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Strings that must stay text wherever they travel (SQL, Streamlit, dbt docs).
SQL_INJECTION = "Robert'); DROP TABLE raw.turns; -- \" OR 1=1 --"
HTML_INJECTION = "<script>alert('si')</script><img src=x onerror=alert(1)>"
MARKDOWN_INJECTION = "![pixel](https://tracker.invalid/p.png) [click me](javascript:alert(1)) :red[ALERT]"
JINJA_INJECTION = "{{ 7 * 7 }} {% raw %} {{ config.items() }}"
UNICODE_TEXT = "退货 😡🔥 مرحبا \u202eevil\u202c zero\u200bwidth\ufeffjoin 👨‍👩‍👧"
PAYLOADS = (SQL_INJECTION, HTML_INJECTION, MARKDOWN_INJECTION, JINJA_INJECTION)
HOSTILE_CITY = f"{MARKDOWN_INJECTION} {HTML_INJECTION}"  # becomes a knowledge-graph node: a label on two pages

HOSTILE_CUSTOMER = "CX-HOSTILE"  # its name, family name and city are injection strings
HOSTILE_PHONE = "+86 139-0000-4242"
HOSTILE_EMAIL = "mallory.hostile@evil.example.com"
HOSTILE_ID_CARD = "110101199001011234"
HOSTILE_BANK_CARD = "6222021234567890123"


@dataclass
class FileExpectation:
    rows_in: int
    loaded: int
    quarantined: int
    reasons: dict[int | None, str] = field(default_factory=dict)  # line -> part of the reason


@dataclass
class HostileCorpus:
    files: dict[str, FileExpectation]  # landing-relative path -> expectation
    conversations: dict[str, str]  # conversation id -> local start time it must have in the marts
    turn_keys: set[tuple[str, int]]  # (conversation_id, turn_index) that must load
    unrouted: list[str]
    planted_pii: tuple[str, ...] = (HOSTILE_PHONE, HOSTILE_EMAIL, HOSTILE_ID_CARD, HOSTILE_BANK_CARD)

    def quarantined_by_source(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rel, e in self.files.items():
            if e.quarantined:
                out[rel.split("/")[0]] = out.get(rel.split("/")[0], 0) + e.quarantined
        return out


def _csv_text(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


def _first_row(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return next(csv.DictReader(fh))


def write_hostile_corpus(landing: Path, day: str) -> HostileCorpus:
    """Write the corpus into ``landing`` (a generated sample's landing folder) for ``day`` (YYYY-MM-DD)."""
    customer = _first_row(next((landing / "customers").glob("*.csv")))["customer_id"]
    queue = _first_row(next((landing / "queues").glob("*.csv")))["queue_id"]
    agent = _first_row(next((landing / "agents").glob("*.csv")))["agent_id"]
    files: dict[str, FileExpectation] = {}

    def header(cid: str, started: str, **extra) -> dict:
        return {"conversation_id": cid, "channel": "chat", "started_at": started, "ended_at": None,
                "customer_id": HOSTILE_CUSTOMER, "agent_id": agent, "queue_id": queue, "final_queue_id": queue,
                "ui_locale": "zh-CN", "order_id": None, "disposition": "resolved", "transfer_count": 0,
                "handle_seconds": 300, "first_response_seconds": 20, **extra}

    # -- conversations: JSON Lines with every way a record can break, and five good ones in five time forms.
    good = {
        "HX-ISO": (f"{day} 10:00:00", f"{day} 10:00:00"),
        "HX-UTC": (f"{day}T02:00:00Z", f"{day} 10:00:00"),
        "HX-SLASH": (f"{day.replace('-', '/')} 10:05", f"{day} 10:05:00"),
        "HX-RFC": (None, f"{day} 10:00:00"),
        "HX-NAMED": (f"{day} 02:00:00 UTC", f"{day} 10:00:00"),
        "HX-DUP": (f"{day} 11:00:00", f"{day} 11:00:00"),
    }
    from datetime import date as _date

    d = _date.fromisoformat(day)
    good["HX-RFC"] = (f"{d.strftime('%a')}, {d.day:02d} {d.strftime('%b')} {d.year} 10:00:00 +0800", good["HX-RFC"][1])
    lines = [json.dumps(header(cid, started, extra_field="ignored"), ensure_ascii=False) for cid, (started, _) in
             good.items()]
    lines.append(json.dumps(header("HX-DUP", f"{day} 11:00:00", disposition="transferred"), ensure_ascii=False))
    bad = [
        (json.dumps(header("HX-FUTURE", f"{_date.today().year + 5}-01-01 10:00:00")),
         f"started_at: {_date.today().year + 5}-01-01 10:00 is in the future"),
        (json.dumps(header("HX-DAYFIRST", "30/10/2026 10:00")), "started_at: cannot read '30/10/2026 10:00'"),
        (json.dumps(header("HX-EPOCH", "epoch")), "started_at: 1970-01-01 00:00 is not a plausible event time"),
        ('{"conversation_id": "HX-TRUNC", "channel": "chat", "started_at": "' + day, "invalid JSON"),
        ('{"conversation_id": "HX-NEST", "meta": {"a": [1, 2}, "channel": "chat"}', "invalid JSON"),
        ("[1, 2, 3]", "expected a JSON object, found list"),
        (json.dumps(header("HX-TYPE", f"{day} 10:00:00", transfer_count="two")),
         "transfer_count: cannot read 'two' as INTEGER"),
        (json.dumps({**header("HX-NOCUST", f"{day} 10:00:00"), "customer_id": None}), "customer_id is required"),
        (json.dumps(header(SQL_INJECTION, f"{day} 10:00:00", channel="fax")), "channel must be chat, phone, email or social"),
    ]
    first_bad = len(lines) + 1
    lines += [text for text, _ in bad]
    rel = f"conversations/conversations_{day}_hostile.jsonl"
    (landing / rel).write_text("\n".join(lines) + "\n", encoding="utf-8")
    files[rel] = FileExpectation(len(lines), len(lines) - len(bad), len(bad),
                                 {first_bad + i: reason for i, (_, reason) in enumerate(bad)})

    # -- turns: BOM, CRLF, embedded newlines and quotes, payloads, unicode; plus broken records.
    texts = [
        f"我要退货 {UNICODE_TEXT}",
        f"第一行\n第二行, with \"quotes\" and, commas\r\n{SQL_INJECTION}",
        HTML_INJECTION,
        MARKDOWN_INJECTION,
        JINJA_INJECTION,
        f"My phone is {HOSTILE_PHONE}, e-mail {HOSTILE_EMAIL}, ID {HOSTILE_ID_CARD}, card {HOSTILE_BANK_CARD}",
        "长" * 90_000,  # long but under the limit: must load and be handled by every model
    ]
    rows = [["HX-ISO", i, "customer" if i % 2 == 0 else "agent", f"{day} 10:00:{i:02d}", t] for i, t in enumerate(texts)]
    rows += [["HX-UTC", 0, "customer", f"{day}T02:00:05Z", "where is my parcel? 包裹在哪里"],
             ["HX-SLASH", 0, "customer", f"{day.replace('-', '/')} 10:05", MARKDOWN_INJECTION],
             ["HX-RFC", 0, "customer", good["HX-RFC"][0], "invoice please 发票"],
             ["HX-DUP", 0, "customer", f"{day} 11:00:00", "duplicate header, one conversation"]]
    body = _csv_text(["conversation_id", "turn_index", "speaker", "ts", "text"], rows)
    body_lines = body.count("\n")
    broken = [
        ('HX-ISO,90,customer,' + day + ' 10:01:00,"never closed\n', "malformed CSV record"),
        ("HX-ISO,three,customer," + day + " 10:01:00,wrong type\n", "turn_index: cannot read 'three' as INTEGER"),
        ("HX-ISO,91,robot," + day + " 10:01:00,who\n", "speaker must be customer, agent, bot or system"),
        ("HX-ISO,92,customer\n", "expected 5 fields, found 3"),
    ]
    rel = f"turns/turns_{day}_hostile.csv"
    data = "\ufeff" + body + "".join(text for text, _ in broken)
    (landing / rel).write_bytes(data.replace("\n", "\r\n").encode("utf-8"))
    reasons = {}
    line = body_lines + 1
    for text, reason in broken:
        reasons[line] = reason
        line += text.count("\n")
    files[rel] = FileExpectation(len(rows) + len(broken), len(rows), len(broken), reasons)
    turn_keys = {(r[0], r[1]) for r in rows}

    # -- turns in GBK: every line quarantined as not UTF-8.
    rel = f"turns/turns_{day}_gbk.csv"
    gbk = _csv_text(["conversation_id", "turn_index", "speaker", "ts", "text"],
                    [["HX-ISO", 50 + i, "customer", f"{day} 10:00:00", "我的订单在哪里"] for i in range(3)])
    (landing / rel).write_bytes(gbk.encode("gbk"))
    files[rel] = FileExpectation(3, 0, 3, {2: "not valid UTF-8", 3: "not valid UTF-8", 4: "not valid UTF-8"})

    # -- a 50 MB single field: quarantined by size, the file's other row loads.
    rel = f"turns/turns_{day}_huge.csv"
    (landing / rel).write_text(_csv_text(["conversation_id", "turn_index", "speaker", "ts", "text"], [
        ["HX-UTC", 1, "agent", f"{day}T02:00:09Z", "x" * (50 * 2**20)],
        ["HX-UTC", 2, "agent", f"{day}T02:00:10Z", "Your parcel arrives tomorrow."]]), encoding="utf-8")
    files[rel] = FileExpectation(2, 1, 1, {2: "text: 52428800 characters exceed the 100000 limit"})
    turn_keys.add(("HX-UTC", 2))

    # -- empty files: nothing in, nothing lost.
    for rel in (f"turns/turns_{day}_empty.csv", f"surveys/surveys_{day}_header_only.csv"):
        content = "" if "empty" in rel else "survey_id,conversation_id,responded_at,csat,nps\n"
        (landing / rel).write_text(content, encoding="utf-8")
        files[rel] = FileExpectation(0, 0, 0)

    # -- surveys: extra columns (one named like markup), a BOM, wrong values.
    rel = f"surveys/surveys_{day}_extra.csv"
    (landing / rel).write_text("\ufeff" + _csv_text(
        ["survey_id", "conversation_id", "responded_at", "csat", "nps", HTML_INJECTION, "comment"],
        [["SX-1", "HX-ISO", f"{day} 12:00:00", 5, 9, "x", "great"],
         ["SX-2", "HX-UTC", f"{day} 12:00:00", 4.5, 7, "x", "decimal"],
         ["SX-3", "HX-SLASH", f"{day} 12:00:00", 9, 7, "x", "out of range"]]), encoding="utf-8")
    files[rel] = FileExpectation(3, 1, 2, {3: "csat: cannot read '4.5' as INTEGER", 4: "csat must be 1-5"})

    # -- calls: a required column missing: every row quarantined.
    rel = f"calls/calls_{day}_missing_column.csv"
    (landing / rel).write_text(_csv_text(
        ["call_id", "conversation_id", "queue_id", "started_at"],
        [["CLX-1", "HX-ISO", queue, f"{day} 10:00:00"], ["CLX-2", "HX-UTC", queue, f"{day} 10:00:00"]]),
        encoding="utf-8")
    files[rel] = FileExpectation(2, 0, 2, {2: "missing required column(s): abandoned",
                                           3: "missing required column(s): abandoned"})

    # -- orders: Parquet with a wrong type, and a file that is not Parquet at all.
    rel = f"orders/orders_{day}_hostile.parquet"
    pq.write_table(pa.table({"order_id": ["OX-1", "OX-2"], "line_number": ["1", "one"],
                             "customer_id": [customer, customer], "ordered_at": [f"{day} 09:00:00"] * 2,
                             "product_id": ["P001", "P001"], "quantity": ["1", "lots"], "unit_price": [9.5, 9.5]}),
                   landing / rel)
    files[rel] = FileExpectation(2, 1, 1, {2: "line_number: cannot read 'one' as INTEGER"})
    rel = f"orders/orders_{day}_truncated.parquet"
    (landing / rel).write_bytes(b"PAR1\x00\x01broken")
    files[rel] = FileExpectation(1, 0, 1, {None: "unreadable Parquet file"})

    # -- a second customers file: hostile name, planted PII (must be masked like the generator's).
    rel = "customers/customers_hostile.csv"
    (landing / rel).write_text(_csv_text(
        ["customer_id", "full_name", "given_name", "family_name", "language", "phone", "email", "id_card",
         "bank_card", "city", "segment", "signup_date"],
        [[HOSTILE_CUSTOMER, f"Mallory {SQL_INJECTION}", "Mallory", HTML_INJECTION, "ar", HOSTILE_PHONE, HOSTILE_EMAIL,
          HOSTILE_ID_CARD, HOSTILE_BANK_CARD, HOSTILE_CITY, "new", "2026-01-01"]]), encoding="utf-8")
    files[rel] = FileExpectation(1, 1, 0)

    # -- a file in a folder no source reads.
    unrouted = f"Turns_backup/turns_{day}.csv"
    (landing / unrouted).parent.mkdir(parents=True, exist_ok=True)
    (landing / unrouted).write_text("conversation_id,turn_index\nHX-ISO,0\n", encoding="utf-8")

    return HostileCorpus(files=files, conversations={cid: local for cid, (_, local) in good.items()},
                         turn_keys=turn_keys, unrouted=[unrouted])
