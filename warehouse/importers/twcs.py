"""Importer for the public "Customer Support on Twitter" CSV (``twcs.csv``) and exports of its shape.

The format, one row per tweet: ``tweet_id, author_id, inbound, created_at, text, response_tweet_id,
in_response_to_tweet_id``. ``inbound`` is True for a customer's tweet and False for the company's;
``created_at`` is Twitter's ``Tue Oct 31 22:10:47 +0000 2017`` (ISO 8601 is read too);
``in_response_to_tweet_id`` names the tweet answered (often written as a float, ``119236.0``).

What becomes what, and why:
- A thread (a tweet and every reply under it) is a conversation on the ``social`` channel, named
  after its first tweet. A thread whose first tweet is not in the export starts at its earliest
  tweet that is (counted in the report: such a conversation may lack its opening question).
- The company's handle is the queue (``social:<handle>``), the brand answering; a thread nobody
  answered goes to the brand its first tweet mentions, else ``social:unanswered``.
- Customers become pseudonyms (``tw-`` + a keyed hash of the handle, keyed with the data folder's
  PII key), in the customer list and wherever their handle is mentioned in a tweet: a handle is
  personal data and stops here, in the landing area.
- Agents exist only where the data names them: a reply signed with initials (``… ^JK``, ``-AB``)
  gives the agent ``<handle>/<initials>``. Disposition, handle time and transfers are not in the
  format: they stay empty and the report lists them as missing, never invented.

Bad rows never stop an import and never vanish: each is counted with its reason (and written to
a rejects CSV beside the report). The output is ordinary landing files whose names and bytes
depend only on the input rows, so importing the same exports again changes nothing, and a tweet
present in two exports is imported once.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import html
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable

from warehouse.importers.common import csv_text as _csv
from warehouse.importers.common import jsonl_text as _jsonl
from warehouse.importers.common import ImportFailed, utc_time, write_if_changed
from warehouse.importers.common import utc_text as _utc

REQUIRED_COLUMNS = ("tweet_id", "author_id", "inbound", "created_at", "text")
OPTIONAL_COLUMNS = ("response_tweet_id", "in_response_to_tweet_id")
NOT_IN_FORMAT = ("disposition", "handle_seconds", "transfer_count", "agent_id (only where a reply is signed)",
                 "ui_locale", "order_id")

_SIGNATURE = re.compile(r"(?:\^|(?<=\s)[-–—~*/]\s?)([A-Z]{2,3})\s*$")
_MENTION = re.compile(r"@([A-Za-z0-9_]{1,50})")
_TIME_FORMATS = ("%a %b %d %H:%M:%S %z %Y",)


@dataclass
class Tweet:
    tweet_id: str
    author: str
    inbound: bool
    at: datetime
    text: str
    parent: str | None
    source: str


@dataclass
class ImportReport:
    rows_read: int = 0
    tweets: int = 0
    duplicates: int = 0
    rejected: Counter = field(default_factory=Counter)
    rejected_rows: list[dict] = field(default_factory=list)
    threads: int = 0
    threads_missing_first_tweet: int = 0
    threads_before_since: int = 0
    threads_without_customer: int = 0
    written: dict[str, int] = field(default_factory=dict)
    files_written: int = 0
    files_unchanged: int = 0
    rejects_file: str | None = None
    missing: tuple[str, ...] = NOT_IN_FORMAT

    def reconciles(self) -> bool:
        """Every row read is a tweet, a duplicate of one, or rejected with a reason."""
        return self.rows_read == self.tweets + self.duplicates + sum(self.rejected.values())

    def as_dict(self) -> dict:
        accounting = (f"{self.rows_read:,} rows read = {self.tweets:,} tweets + {self.duplicates:,} duplicates + "
                      f"{sum(self.rejected.values()):,} rejected; {self.threads:,} threads "
                      f"({self.threads_missing_first_tweet:,} without their first tweet, {self.threads_before_since:,} "
                      f"before --since, {self.threads_without_customer:,} with no customer tweet)")
        return {"format": "twcs", "accounting": accounting, "rows_read": self.rows_read, "tweets": self.tweets,
                "duplicates": self.duplicates,
                "rejected": dict(self.rejected), "threads": self.threads,
                "threads_missing_first_tweet": self.threads_missing_first_tweet,
                "threads_before_since": self.threads_before_since,
                "threads_without_customer": self.threads_without_customer, "written": self.written,
                "files_written": self.files_written, "files_unchanged": self.files_unchanged,
                "not_in_format": list(self.missing), "rejects_file": self.rejects_file,
                "reconciles": self.reconciles()}


def _tweet_id(value: str | None) -> str | None:
    """'119236', '119236.0' -> '119236'; anything else -> None."""
    value = (value or "").strip()
    match = re.fullmatch(r"(\d+)(?:\.0+)?", value)
    return match.group(1) if match else None


def parse_time(value: str) -> datetime | None:
    """Twitter's ``Tue Oct 31 22:10:47 +0000 2017`` or ISO 8601 with a zone, as an aware UTC time."""
    value = (value or "").strip()
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).astimezone(timezone.utc)
        except ValueError:
            pass
    return utc_time(value)


def _read_rows(paths: Iterable[Path], report: ImportReport) -> dict[str, Tweet]:
    tweets: dict[str, Tweet] = {}
    for path in paths:
        try:
            handle = path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise ImportFailed(f"{path}: cannot be read ({exc.strerror or exc})") from exc
        with handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ImportFailed(f"{path}: not a twcs export, columns {', '.join(missing)} are missing "
                                   f"(found: {', '.join(reader.fieldnames or []) or 'no header'})")
            try:
                for line, row in enumerate(reader, start=2):
                    report.rows_read += 1
                    tweet, reason = _tweet(row, path)
                    if reason:
                        report.rejected[reason] += 1
                        report.rejected_rows.append({"file": path.name, "line": line, "reason": reason,
                                                     "tweet_id": (row.get("tweet_id") or "")[:40]})
                        continue
                    known = tweets.get(tweet.tweet_id)
                    if known is None:
                        tweets[tweet.tweet_id] = tweet
                        report.tweets += 1
                        continue
                    report.duplicates += 1  # the same tweet in two exports (or twice in one): imported once
                    if (known.author, known.text, known.at) != (tweet.author, tweet.text, tweet.at):
                        report.rejected_rows.append({"file": path.name, "line": line, "tweet_id": tweet.tweet_id,
                                                     "reason": f"duplicate tweet_id with other content; the copy "
                                                               f"in {known.source} was kept"})
            except (csv.Error, UnicodeDecodeError) as exc:
                raise ImportFailed(f"{path}: not readable as UTF-8 CSV near row {report.rows_read + 1}: {exc}") from exc
    return tweets


def _tweet(row: dict, path: Path) -> tuple[Tweet | None, str | None]:
    tweet_id = _tweet_id(row.get("tweet_id"))
    if tweet_id is None:
        return None, "tweet_id missing or not a number"
    author = (row.get("author_id") or "").strip()
    if not author:
        return None, "author_id missing (a deleted user?)"
    inbound = (row.get("inbound") or "").strip().lower()
    if inbound not in ("true", "false"):
        return None, "inbound is neither True nor False"
    at = parse_time(row.get("created_at"))
    if at is None:
        return None, "created_at unreadable or without a time zone"
    text = html.unescape(row.get("text") or "").strip()
    if not text:
        return None, "empty text"
    parent = _tweet_id(row.get("in_response_to_tweet_id"))
    return Tweet(tweet_id, author, inbound == "true", at, text, parent if parent != tweet_id else None, path.name), None


def _threads(tweets: dict[str, Tweet], report: ImportReport) -> dict[str, list[Tweet]]:
    """Tweets grouped under the first tweet of their thread (following replies up as far as the export goes)."""
    roots: dict[str, str] = {}
    for tweet_id in tweets:
        chain, current = [], tweet_id
        while current not in roots:
            chain.append(current)
            parent = tweets[current].parent
            if parent is None or parent not in tweets or parent in chain:
                if parent in chain:  # replies that answer each other in a circle: the earliest starts the thread
                    current = min(chain[chain.index(parent):], key=lambda t: (tweets[t].at, int(t)))
                    roots[current] = current
                else:
                    roots[current] = current
                break
            current = parent
        for link in chain:
            roots[link] = roots[current]
    grouped: dict[str, list[Tweet]] = defaultdict(list)
    for tweet_id, root in roots.items():
        grouped[root].append(tweets[tweet_id])
    for root, members in grouped.items():
        members.sort(key=lambda t: (t.at, int(t.tweet_id)))
        if tweets[root].parent is not None and tweets[root].parent not in tweets:
            report.threads_missing_first_tweet += 1
    return dict(grouped)


def pseudonym(handle: str, key: str) -> str:
    """A customer's handle as a stable pseudonym (keyed, so it cannot be reversed by hashing handles)."""
    return "tw-" + hmac.new(key.encode(), handle.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


def _signature(text: str) -> str | None:
    match = _SIGNATURE.search(text)
    return match.group(1) if match else None


def _masked(text: str, customers: dict[str, str]) -> str:
    """Customer handles mentioned in a tweet become their pseudonym; brand handles stay."""
    return _MENTION.sub(lambda m: "@" + customers[m.group(1).lower()] if m.group(1).lower() in customers
                        else m.group(0), text)


def import_twcs(paths: Iterable[Path], landing_dir: Path, key: str, since: date | None = None,
                rejects_dir: Path | None = None) -> ImportReport:
    """Read twcs CSV exports and write landing files (conversations, turns, customers); see the module doc."""
    paths = [Path(p) for p in paths]
    report = ImportReport()
    tweets = _read_rows(paths, report)
    brands = {t.author.lower(): t.author for t in tweets.values() if not t.inbound}
    customers = {t.author.lower(): pseudonym(t.author, key) for t in tweets.values()
                 if t.inbound and t.author.lower() not in brands}
    by_day: dict[str, dict[str, list[dict]]] = defaultdict(lambda: {"conversations": [], "turns": []})
    people: dict[str, dict] = {}
    for root, thread in sorted(_threads(tweets, report).items(), key=lambda kv: int(kv[0])):
        started = thread[0].at
        if since and started.date() < since:
            report.threads_before_since += 1
            continue
        asking = next((t for t in thread if t.inbound and t.author.lower() in customers), None)
        if asking is None:  # the company talking to itself or to another brand: no contact to import
            report.threads_without_customer += 1
            continue
        report.threads += 1
        replies = [t for t in thread if not t.inbound]
        brand = replies[0].author if replies else next(
            (brands[m.lower()] for m in _MENTION.findall(thread[0].text) if m.lower() in brands), None)
        queue = f"social:{brand}" if brand else "social:unanswered"
        signed = [(t.author, _signature(t.text)) for t in replies if _signature(t.text)]
        agent = f"{signed[-1][0]}/{signed[-1][1]}" if signed else None
        customer_id = customers[asking.author.lower()]
        people[customer_id] = {"customer_id": customer_id}
        day = started.strftime("%Y-%m-%d")
        by_day[day]["conversations"].append({
            "conversation_id": f"TW{root}", "channel": "social", "started_at": _utc(started),
            "ended_at": _utc(thread[-1].at), "customer_id": customer_id, "agent_id": agent, "queue_id": queue,
            "final_queue_id": queue, "ui_locale": None, "order_id": None, "disposition": None,
            "transfer_count": None, "handle_seconds": None,
        })
        by_day[day]["turns"].extend({
            "conversation_id": f"TW{root}", "turn_index": i, "speaker": "customer" if t.inbound else "agent",
            "ts": _utc(t.at), "text": _masked(t.text, customers),
        } for i, t in enumerate(thread))
    digest = hashlib.sha256(json.dumps(sorted(tweets), separators=(",", ":")).encode()).hexdigest()[:10]
    written: Counter = Counter()
    for day, rows in sorted(by_day.items()):
        _write(landing_dir / "conversations" / f"twcs_{day}_{digest}.jsonl", _jsonl(rows["conversations"]), report)
        _write(landing_dir / "turns" / f"twcs_{day}_{digest}.csv",
               _csv(rows["turns"], ["conversation_id", "turn_index", "speaker", "ts", "text"]), report)
        written["conversations"] += len(rows["conversations"])
        written["turns"] += len(rows["turns"])
    if people:
        _write(landing_dir / "customers" / f"twcs_{digest}.csv",
               _csv(sorted(people.values(), key=lambda r: r["customer_id"]), ["customer_id"]), report)
        written["customers"] = len(people)
    report.written = dict(written)
    if rejects_dir is not None and report.rejected_rows:
        rejects = rejects_dir / f"twcs_{digest}_rejected.csv"
        _write(rejects, _csv(report.rejected_rows, ["file", "line", "tweet_id", "reason"]), report, counted=False)
        report.rejects_file = str(rejects)
    return report


def _write(path: Path, content: str, report: ImportReport, counted: bool = True) -> None:
    """Write the file unless it already holds these bytes (so its load is not repeated); count which."""
    if write_if_changed(path, content.encode("utf-8")):
        report.files_written += counted
    else:
        report.files_unchanged += counted
