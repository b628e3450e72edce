"""Writes the simulated contact centre as landing files, the way real systems export them.

Layout under ``landing/``: one folder per source, a new file per day, in the format that
kind of system usually exports (chat/CRM headers as JSON Lines, turns, calls and surveys as
CSV, voice analytics and orders as Parquet, reference data as full daily snapshots).
Ground truth goes to a separate folder that the loaders never read.

Real exports are imperfect, so by default a small share of rows are broken on purpose
(broken JSON, wrong types, a legacy-encoded file, a file missing a column) and a few
headers are re-exported the next day. How many is recorded in ``ground_truth/summary.json``
so tests can reconcile: rows in = rows loaded + rows quarantined.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from sample_data import phrasebank as pb
from sample_data.calendar import CHANNELS, holiday_calendar
from sample_data.core import (
    EMOTIONS, TEAM_CATEGORY, TEAMS, Contact, ContactCentreSimulator, GeneratorConfig,
)
from sample_data.knowledge import kb_articles, translation_memory
from sample_data.surveys import FIELDS as SURVEY_ANSWER_FIELDS
from sample_data.surveys import survey_answers

TS_FORMAT = "%Y-%m-%d %H:%M:%S"

CONVERSATION_FIELDS = (
    "conversation_id", "channel", "started_at", "ended_at", "customer_id", "agent_id", "queue_id",
    "final_queue_id", "ui_locale", "order_id", "disposition", "transfer_count", "handle_seconds",
    "first_response_seconds",
)
TURN_FIELDS = ("conversation_id", "turn_index", "speaker", "ts", "text")
CALL_FIELDS = (
    "call_id", "conversation_id", "queue_id", "ivr_path", "caller_number", "started_at", "ring_seconds",
    "wait_seconds", "talk_seconds", "hold_seconds", "wrap_seconds", "transfers", "abandoned", "recording_id",
)
SURVEY_FIELDS = ("survey_id", "conversation_id", "responded_at", "csat", "nps")


def _fmt(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime(TS_FORMAT)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _write_csv(path: Path, fields: Iterable[str], rows: list[dict[str, Any]]) -> None:
    fields = list(fields)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        for r in rows:
            w.writerow(["" if r.get(f) is None else _fmt(r.get(f)) for f in fields])


def _write_jsonl(path: Path, rows: list[dict[str, Any]], extra_lines: list[str] = ()) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({k: _fmt(v) for k, v in r.items()}, ensure_ascii=False) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    pq.write_table(pa.Table.from_pylist(rows), path)


_S, _B, _I = pa.string(), pa.bool_(), pa.int64()
TRUTH_SCHEMAS = {
    "truth_conversations": pa.schema([
        ("conversation_id", _S), ("channel", _S), ("started_at", pa.timestamp("us")), ("day", pa.date32()),
        ("intent", _S), ("category", _S), ("correct_team", _S), ("entry_team", _S), ("misrouted", _B),
        ("language", _S), ("resolved", _B), ("abandoned", _B), ("repeat_of", _S), ("noisy_text", _B),
        ("first_negative_turn", _I), ("needs_follow_up", _B), ("transferred", _B)]),
    "truth_turns": pa.schema([("conversation_id", _S), ("turn_index", _I), ("speaker", _S), ("emotion", _S),
                              ("act", _S), ("pii_kinds", _S)]),
    "truth_qa": pa.schema([("conversation_id", _S), ("dimension", _S), ("applicable", _B), ("violated", _B),
                           ("evidence_turn", _I)]),
    "truth_pii": pa.schema([("conversation_id", _S), ("kind", _S), ("value", _S)]),
}


class _TruthSink:
    """Appends ground-truth rows to Parquet files without holding them all in memory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[str, pq.ParquetWriter] = {
            name: pq.ParquetWriter(folder / f"{name}.parquet", schema) for name, schema in TRUTH_SCHEMAS.items()}

    def write(self, name: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.writers[name].write_table(pa.Table.from_pylist(rows, schema=TRUTH_SCHEMAS[name]))

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


class _Faults:
    """Decides, deterministically, which rows of which day are broken and how."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.rng = random.Random(seed + 999)
        self.counts: Counter[str] = Counter()

    def broken_conversation_lines(self, day: date, n_rows: int, force: bool = False) -> list[str]:
        lines = []
        for k in range(self._how_many(n_rows, force)):
            kind = self.rng.choice(("truncated", "bad_timestamp", "missing_id", "bad_number"))
            cid = f"CVBAD{day:%Y%m%d}{k:03d}"
            if kind == "truncated":
                lines.append(f'{{"conversation_id": "{cid}", "channel": "chat", "started_at": "{day} 10:0')
            elif kind == "bad_timestamp":
                lines.append(json.dumps({"conversation_id": cid, "channel": "chat", "started_at": "yesterday",
                                         "customer_id": "C0000001", "queue_id": "Q_general"}))
            elif kind == "missing_id":
                lines.append(json.dumps({"channel": "email", "started_at": f"{day} 11:00:00",
                                         "customer_id": "C0000001", "queue_id": "Q_general"}))
            else:
                lines.append(json.dumps({"conversation_id": cid, "channel": "phone", "started_at": f"{day} 12:00:00",
                                         "customer_id": "C0000001", "queue_id": "Q_general",
                                         "handle_seconds": "about ten minutes"}))
            self.counts["conversations"] += 1
        return lines

    def broken_csv_rows(self, source: str, day: date, n_rows: int, fields: tuple[str, ...],
                        force: bool = False) -> list[dict[str, Any]]:
        rows = []
        for k in range(self._how_many(n_rows, force)):
            row = {f: "" for f in fields}
            if source == "turns":
                row.update(conversation_id=f"CVBAD{day:%Y%m%d}{k:03d}", turn_index="three", speaker="customer",
                           ts=f"{day} 09:00:00", text="broken export row")
            elif source == "calls":
                row.update(call_id=f"CLBAD{day:%Y%m%d}{k:03d}", conversation_id="", queue_id="Q_general",
                           started_at=f"{day} 09:00:00", wait_seconds="n/a", abandoned="maybe")
            else:
                row.update(survey_id=f"SBAD{day:%Y%m%d}{k:03d}", conversation_id=f"CVBAD{day:%Y%m%d}{k:03d}",
                           responded_at=f"{day} 09:00:00", csat="excellent", nps="11.5.2")
            rows.append(row)
            self.counts[source] += 1
        return rows

    def _how_many(self, n_rows: int, force: bool = False) -> int:
        """Expected share of broken rows; on the ``force`` day at least one, so every run has some."""
        if self.rate <= 0:
            return 0
        expected = n_rows * self.rate
        whole = int(expected)
        n = whole + (1 if self.rng.random() < expected - whole else 0)
        return max(n, 1) if force else n


def generate(config: GeneratorConfig, landing_dir: Path, truth_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Simulate and write everything; returns the summary also saved as ``summary.json``."""
    sim = ContactCentreSimulator(config)
    for folder in ("conversations", "turns", "calls", "voice_features", "surveys", "survey_answers", "orders", "annotations",
                   "turn_labels", "customers", "agents", "teams", "queues", "products", "kb_articles",
                   "translation_memory"):
        (landing_dir / folder).mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    sink = _TruthSink(truth_dir)
    faults = _Faults(config.bad_row_rate, config.seed)
    dup_rng = random.Random(config.seed + 555)
    ann_rng = random.Random(config.seed + 777)
    turn_label_rng = random.Random(config.seed + 888)
    seconds, channel_idx = sim.arrivals()
    start_dt = datetime.combine(config.start, datetime.min.time())
    by_day: dict[date, list[tuple[int, int]]] = defaultdict(list)
    for s, c in zip(seconds.tolist(), channel_idx.tolist()):
        by_day[(start_dt + timedelta(seconds=s)).date()].append((s, c))
    counts: dict[str, Any] = {
        "conversations_by_day_channel": Counter(), "turns": 0, "calls": 0, "abandoned_calls": 0,
        "voice_rows": 0, "surveys": 0, "survey_answers": 0, "annotations": 0, "turn_labels": 0, "duplicate_conversation_rows": 0,
        "transferred": 0,
    }
    carry: list[dict[str, Any]] = []
    seq = 0
    days = [config.start + timedelta(days=i) for i in range(config.days)]
    for day in tqdm(days, desc="generating days", unit="day", disable=not progress):
        contacts: list[Contact] = []
        for s, c in by_day.get(day, []):
            seq += 1
            contacts.append(sim.contact(seq, start_dt + timedelta(seconds=s), CHANNELS[c]))
        headers = [ct.header for ct in contacts]
        counts["duplicate_conversation_rows"] += len(carry)
        force = day == config.start + timedelta(days=config.days // 2)  # one sure fault per source
        bad_lines = faults.broken_conversation_lines(day, len(headers), force)
        _write_jsonl(landing_dir / "conversations" / f"conversations_{day}.jsonl", headers + carry, bad_lines)
        carry = [h for h in headers if dup_rng.random() < config.duplicate_rate] if day != days[-1] else []
        turns = [t for ct in contacts for t in ct.turns]
        _write_csv(landing_dir / "turns" / f"turns_{day}.csv", TURN_FIELDS,
                   turns + faults.broken_csv_rows("turns", day, len(turns), TURN_FIELDS, force))
        calls = [ct.call for ct in contacts if ct.call]
        _write_csv(landing_dir / "calls" / f"calls_{day}.csv", CALL_FIELDS,
                   calls + faults.broken_csv_rows("calls", day, len(calls), CALL_FIELDS, force))
        voice = [v for ct in contacts for v in ct.voice]
        if voice:
            _write_parquet(landing_dir / "voice_features" / f"voice_features_{day}.parquet", voice)
        surveys = [ct.survey for ct in contacts if ct.survey]
        _write_csv(landing_dir / "surveys" / f"surveys_{day}.csv", SURVEY_FIELDS,
                   surveys + faults.broken_csv_rows("surveys", day, len(surveys), SURVEY_FIELDS, force))
        answers = [row for ct in contacts for row in survey_answers(ct.header, ct.survey)]
        if answers:
            _write_csv(landing_dir / "survey_answers" / f"survey_answers_{day}.csv", SURVEY_ANSWER_FIELDS, answers)
        annotations = _annotations(contacts, config.annotation_rate, ann_rng, day)
        if annotations:
            _write_jsonl(landing_dir / "annotations" / f"annotations_{day}.jsonl", annotations)
            turn_labels = _turn_labels(contacts, {a["conversation_id"] for a in annotations}, turn_label_rng, day)
            _write_jsonl(landing_dir / "turn_labels" / f"turn_labels_{day}.jsonl", turn_labels)
            counts["turn_labels"] += len(turn_labels)
        for ct in contacts:
            counts["conversations_by_day_channel"][(str(day), ct.header["channel"])] += 1
            counts["transferred"] += int(ct.header["transfer_count"] > 0)
        counts["turns"] += len(turns)
        counts["calls"] += len(calls)
        counts["abandoned_calls"] += sum(1 for c in calls if c["abandoned"])
        counts["voice_rows"] += len(voice)
        counts["surveys"] += len(surveys)
        counts["survey_answers"] += len(answers)
        counts["annotations"] += len(annotations)
        sink.write("truth_conversations", [ct.truth for ct in contacts])
        sink.write("truth_turns", [r for ct in contacts for r in ct.turn_truth])
        sink.write("truth_qa", [r for ct in contacts for r in ct.qa_truth])
        sink.write("truth_pii", [r for ct in contacts for r in ct.pii_truth])
    sink.close()
    _write_orders(sim, landing_dir)
    _write_reference(sim, config, landing_dir)
    _write_legacy_and_broken_files(config, landing_dir, faults)
    summary = _summary(config, sim, counts, faults, landing_dir)
    (truth_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    (truth_dir / "planted_rules.json").write_text(json.dumps(sim.bundles, indent=2))
    _write_parallel_text(truth_dir)
    return summary


def _annotations(contacts: list[Contact], rate: float, rng: random.Random, day: date) -> list[dict[str, Any]]:
    """Two annotators label a sample; each is right most of the time, so they sometimes disagree."""
    rows = []
    intents = [i["name"] for i in pb.INTENTS]
    for ct in contacts:
        if ct.truth["abandoned"] or rng.random() >= rate:
            continue
        emotions = [t["emotion"] for t in ct.turn_truth if t["speaker"] == "customer" and t["emotion"]]
        worst = "angry" if "angry" in emotions else "anxious" if "anxious" in emotions else (emotions[-1] if emotions else "neutral")
        for annotator, accuracy in (("annotator_a", 0.93), ("annotator_b", 0.87)):
            intent = ct.truth["intent"]
            if rng.random() > accuracy:
                same_cat = [i["name"] for i in pb.INTENTS if i["category"] == ct.truth["category"] and i["name"] != intent]
                intent = rng.choice(same_cat or intents)
            emotion = worst if rng.random() < accuracy else rng.choice(("neutral", "anxious", "angry", "confused"))
            rows.append({
                "annotation_id": f"AN{ct.header['conversation_id'][2:]}{annotator[-1]}",
                "conversation_id": ct.header["conversation_id"], "annotator": annotator,
                "intent": intent, "emotion": emotion,
                "resolved": ct.truth["resolved"] if rng.random() < accuracy else not ct.truth["resolved"],
                "labelled_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=20),
            })
    return rows


def _turn_labels(contacts: list[Contact], sampled: set[str], rng: random.Random, day: date) -> list[dict[str, Any]]:
    """The same reviewers label every turn of the contacts they review: the customer's emotion, the agent's act.

    These are what turn-level models (emotion, quality acts) learn from; the two reviewers work
    blind to each other and are sometimes wrong, so only labels they agree on are trusted.
    """
    acts = sorted(set(pb.AGENT_LINES["en"]) | {"solution"})
    rows = []
    for ct in contacts:
        cid = ct.header["conversation_id"]
        if cid not in sampled:
            continue
        for annotator, accuracy in (("annotator_a", 0.95), ("annotator_b", 0.9)):
            for t in ct.turn_truth:
                if t["speaker"] == "customer" and t["emotion"]:
                    kind, label, pool = "emotion", t["emotion"], EMOTIONS
                elif t["speaker"] == "agent" and t["act"]:
                    kind, label, pool = "act", t["act"], acts
                else:
                    continue
                if rng.random() > accuracy:
                    label = rng.choice([x for x in pool if x != label])
                rows.append({
                    "label_id": f"TL{cid[2:]}-{t['turn_index']:03d}{annotator[-1]}", "conversation_id": cid,
                    "turn_index": t["turn_index"], "annotator": annotator, "label_kind": kind, "label": label,
                    "labelled_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=21),
                })
    return rows


def _write_orders(sim: ContactCentreSimulator, landing_dir: Path) -> None:
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for line in sim.orders:
        by_day[line["ordered_at"].date()].append(line)
    for day, rows in by_day.items():
        _write_parquet(landing_dir / "orders" / f"orders_{day}.parquet", rows)


def _write_reference(sim: ContactCentreSimulator, config: GeneratorConfig, landing_dir: Path) -> None:
    """Reference data as full snapshots, as CRMs and workforce tools export them."""
    _write_csv(landing_dir / "customers" / f"customers_{config.end}.csv",
               ("customer_id", "full_name", "given_name", "family_name", "language", "phone", "email",
                "id_card", "bank_card", "city", "segment", "signup_date"),
               [{"customer_id": c.customer_id, "full_name": c.full_name, "given_name": c.given,
                 "family_name": c.family, "language": c.language, "phone": c.phone, "email": c.email,
                 "id_card": c.id_card, "bank_card": c.bank_card, "city": c.city, "segment": c.segment,
                 "signup_date": c.signup_date} for c in sim.customers])
    _write_parquet(landing_dir / "kb_articles" / f"kb_articles_{config.end}.parquet", kb_articles())
    _write_parquet(landing_dir / "translation_memory" / f"translation_memory_{config.end}.parquet",
                   translation_memory(config.seed))
    _write_csv(landing_dir / "agents" / f"agents_{config.end}.csv",
               ("agent_id", "agent_name", "team_id", "languages", "hired_on", "site"),
               [{"agent_id": a.agent_id, "agent_name": a.name, "team_id": a.team, "languages": "|".join(a.languages),
                 "hired_on": a.hired_on, "site": a.site} for a in sim.agents])
    _write_csv(landing_dir / "teams" / f"teams_{config.end}.csv", ("team_id", "team_name", "category"),
               [{"team_id": t, "team_name": t.replace("_", " ").title(), "category": TEAM_CATEGORY[t]} for t in TEAMS])
    _write_csv(landing_dir / "queues" / f"queues_{config.end}.csv", ("queue_id", "queue_name", "team_id", "ivr_digit"),
               [{"queue_id": f"Q_{t}", "queue_name": f"{t.replace('_', ' ').title()} queue", "team_id": t,
                 "ivr_digit": i + 1} for i, t in enumerate(TEAMS)])
    _write_parquet(landing_dir / "products" / f"products_{config.end}.parquet", [dict(p) for p in pb.PRODUCTS])


def _write_legacy_and_broken_files(config: GeneratorConfig, landing_dir: Path, faults: _Faults) -> None:
    """Two whole files real pipelines meet: a legacy GB18030 export and one missing a column."""
    if config.bad_row_rate <= 0:
        return
    day = config.start + timedelta(days=config.days // 2)
    rows = [("CVLEGACY001", i, "customer", f"{day} 08:0{i}:00", text) for i, text in
            enumerate(("您好，我的订单还没到", "请帮我查一下物流", "谢谢"))]
    with (landing_dir / "turns" / f"turns_{day}_legacy.csv").open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TURN_FIELDS)
        w.writerows(rows)
    faults.counts["turns"] += len(rows)
    with (landing_dir / "surveys" / f"surveys_{day}_partial.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("survey_id", "conversation_id", "csat"))  # responded_at and nps missing
        w.writerows([("SPARTIAL1", "CV00000001", 4), ("SPARTIAL2", "CV00000002", 5)])
    faults.counts["surveys"] += 2


def _write_parallel_text(truth_dir: Path) -> None:
    """Aligned sentences across languages (same template slot, same intent) for translation training."""
    rows = []
    for intent in pb.INTENTS:
        name = intent["name"]
        for k in range(min(len(pb.AGENT_SOLUTIONS[lang][name]) for lang in pb.LANGUAGES)):
            rows.append({"intent": name, "kind": "agent_solution", "index": k,
                         **{lang: pb.AGENT_SOLUTIONS[lang][name][k] for lang in pb.LANGUAGES}})
    pq.write_table(pa.Table.from_pylist(rows), truth_dir / "parallel_templates.parquet")


def _summary(config, sim, counts, faults, landing_dir) -> dict[str, Any]:
    by_dc = counts.pop("conversations_by_day_channel")
    files = Counter(p.parent.name for p in landing_dir.rglob("*") if p.is_file())
    return {
        "config": {"conversations": config.conversations, "days": config.days, "start": config.start,
                   "end": config.end, "seed": config.seed, "bad_row_rate": config.bad_row_rate},
        "conversations": sum(by_dc.values()),
        "conversations_by_channel": dict(_sum_by(by_dc, 1)),
        "conversations_by_day_channel": [{"day": d, "channel": ch, "conversations": n} for (d, ch), n in sorted(by_dc.items())],
        "customers": len(sim.customers), "agents": len(sim.agents), "order_lines": len(sim.orders),
        "orders": len({o["order_id"] for o in sim.orders}),
        **counts,
        "injected_bad_rows": dict(faults.counts),
        "files_by_source": dict(files),
        "incidents": {str(k): v for k, v in sim.incidents.items()},
        "holidays": [{"day": h.day, "holiday": h.holiday, "kind": h.kind}
                     for h in holiday_calendar(config.start, config.end)],
    }


def _sum_by(counter: Counter, index: int) -> Counter:
    out: Counter = Counter()
    for key, n in counter.items():
        out[key[index]] += n
    return out


# What the simulated contact centre is: a Chinese e-commerce business on Shanghai time with Chinese holidays.
SAMPLE_LOCALE = {"SI_TIMEZONE": "Asia/Shanghai", "SI_HOLIDAY_COUNTRY": "CN"}


def write_sample_settings(data_dir: Path) -> Path | None:
    """Write the sample's locale into the data folder's settings.toml, unless that file already exists.

    Why: the platform assumes no locale (UTC, no holidays unless configured); the sample is a
    contact centre in Shanghai, so the data folder that holds it says so, as a company's would.
    An existing file is the user's and is never overwritten.
    """
    path = data_dir / "settings.toml"
    if path.exists():
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Locale of the generated sample (service-insight generate); edit or delete for other data."]
    lines += [f'{key} = "{value}"' for key, value in SAMPLE_LOCALE.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
