"""Loads landing files into the ``raw`` schema: validated, idempotent, nothing lost.

How a file travels:
1. its SHA-256 is looked up in ``raw._load_manifest``: content already loaded is skipped
   (so loading twice changes nothing); a file whose content changed replaces its old rows. A file
   whose size and modification time (ns) are those recorded when it was loaded is not read again
   at all: a daily run then costs what its new files cost, not a re-hash of every past day;
2. it is parsed in Python (CSV, JSON Lines, Parquet) so every record keeps its line number,
   and structural problems (wrong encoding, broken JSON, wrong field count, missing
   required columns) become quarantine rows with file, line and reason;
3. the parsed records go to DuckDB in bulk (Arrow, never row by row), where types, required
   values, limits and checks are validated in one SQL pass;
4. good rows go to ``raw.<source>``, bad ones to ``raw.quarantine``, and one manifest row per
   file records rows in / loaded / quarantined, all in one transaction per batch, so a
   killed run leaves nothing half-loaded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.sources import SOURCES, Column, SourceSpec

RAW_RECORD_LIMIT = 2_000  # characters of an offending record kept in quarantine
_META_COLUMNS = ("_source_file", "_line", "_file_sha256", "_loaded_at")

csv.field_size_limit(sys.maxsize)  # huge fields are measured and quarantined, not a crash


@dataclass
class ParsedFile:
    """Records of one file as strings (or typed Arrow for Parquet), plus structural rejects."""

    path: Path
    rel: str
    sha256: str
    size: int
    mtime_ns: int | None = None
    columns: dict[str, list[Any]] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)
    arrow: pa.Table | None = None
    rejects: list[tuple[int | None, str, str]] = field(default_factory=list)  # (line, reason, raw)
    note: str = ""

    @property
    def rows_in(self) -> int:
        return len(self.lines) + len(self.rejects)


@dataclass
class LoadReport:
    source: str
    files_seen: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    files_replaced: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def ensure_schema(conn: duckdb.DuckDBPyConnection, specs: tuple[SourceSpec, ...] = SOURCES) -> None:
    """Create the raw tables, the quarantine and the manifest if they do not exist."""
    conn.execute("create schema if not exists raw")
    conn.execute("""
        create table if not exists raw.quarantine (
            source varchar not null, source_file varchar not null, line bigint, reason varchar not null,
            raw_record varchar, file_sha256 varchar, quarantined_at timestamp not null
        )""")
    conn.execute("""
        create table if not exists raw._load_manifest (
            source varchar not null, source_file varchar not null, file_sha256 varchar not null,
            size_bytes bigint, rows_in bigint, rows_loaded bigint, rows_quarantined bigint,
            status varchar not null, note varchar, loaded_at timestamp not null, file_mtime_ns bigint
        )""")
    conn.execute("alter table raw._load_manifest add column if not exists file_mtime_ns bigint")
    for spec in specs:
        cols = ",\n".join(f'"{c.name}" {c.type}' for c in spec.columns)
        conn.execute(f"""
            create table if not exists raw.{spec.name} (
                {cols},
                _source_file varchar not null, _line bigint, _file_sha256 varchar not null,
                _loaded_at timestamp not null
            )""")
        # A column added to the contract later is added to the table (older rows read NULL).
        present = {r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ?",
            [spec.name]).fetchall()}
        for c in spec.columns:
            if c.name not in present:
                conn.execute(f'alter table raw.{spec.name} add column "{c.name}" {c.type}')


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- parsing ----------------------------------------------------------------------------

def _decode(data: bytes, parsed: ParsedFile) -> str | None:
    """UTF-8 (with or without BOM) or nothing: a wrong encoding quarantines every line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = (f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                  "re-export it as UTF-8")
        body = data.splitlines()
        first = 1
        if parsed.path.suffix == ".csv" and body:
            body, first = body[1:], 2  # the header line is not a record
        for i, raw in enumerate(body):
            if raw.strip():
                parsed.rejects.append((first + i, reason, raw.decode("utf-8", "replace")[:RAW_RECORD_LIMIT]))
        return None


def _to_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


MAX_RECORD_LINES = 200  # a quoted field spanning more lines than this is a broken quote


def _csv_records(text: str):
    """(first line number, fields or None, raw text) per CSV record, in file order.

    Python's csv reader lets one unbalanced quote swallow the rest of the file into a single
    field. Records are therefore first cut at physical lines: a record is complete when its
    quotes balance; one that stays unbalanced for MAX_RECORD_LINES lines (or to the end of the
    file) is reported alone (fields None) and cutting resumes on the next line. The balanced
    records then go through one csv reader (fast); a record the strict reader still rejects is
    reported alone and reading resumes after it.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    records: list[tuple[int, str, bool]] = []
    i = 0
    while i < len(lines):
        buf = lines[i]
        quotes = buf.count('"')
        j = i
        while quotes % 2 and j + 1 < len(lines) and j - i < MAX_RECORD_LINES:
            j += 1
            buf += "\n" + lines[j]
            quotes += lines[j].count('"')
        if quotes % 2:
            records.append((i + 1, lines[i], False))
            i += 1
        else:
            records.append((i + 1, buf, True))
            i = j + 1
    pos = 0
    while pos < len(records):
        current = [pos]

        def feed(start: int = pos):
            for k in range(start, len(records)):
                current[0] = k
                if not records[k][2]:
                    return  # an unbalanced record ends this reader; it is reported below
                yield records[k][1]

        failed = False
        try:
            for row in csv.reader(feed(), strict=True):
                line, raw, _ = records[current[0]]
                yield line, row, raw
        except csv.Error:
            failed = True
        k = current[0]
        if failed or not records[k][2]:
            yield records[k][0], None, records[k][1]
        pos = k + 1


def _parse_csv(spec: SourceSpec, text: str, parsed: ParsedFile) -> None:
    records = _csv_records(text)
    header_rec = next(records, None)
    if header_rec is None:
        parsed.note = "empty file"
        return
    if header_rec[1] is None:
        parsed.rejects.append((1, "unreadable CSV header (unbalanced quote)", header_rec[2][:RAW_RECORD_LIMIT]))
        return
    header = [h.strip() for h in header_rec[1]]
    missing = [c.name for c in spec.columns if c.required and c.name not in header]
    extra = [h for h in header if h not in spec.column_names]
    if extra:
        parsed.note = f"ignored extra columns: {', '.join(extra)}"
    names = spec.column_names
    index = {name: header.index(name) for name in names if name in header}
    cols: dict[str, list[Any]] = {name: [] for name in names}
    # (target list, field position or None) once per file, not per row: this loop is the hot path.
    plan = [(cols[name], index.get(name)) for name in names]
    width = len(header)
    lines_out = parsed.lines
    for line, row, raw in records:
        if row is None:
            parsed.rejects.append((line, "malformed CSV record: a quote is not closed (within "
                                         f"{MAX_RECORD_LINES} lines) or is followed by text", raw[:RAW_RECORD_LIMIT]))
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        raw = raw[:RAW_RECORD_LIMIT]
        if missing:
            parsed.rejects.append((line, f"missing required column(s): {', '.join(missing)}", raw))
            continue
        if len(row) != width:
            parsed.rejects.append((line, f"expected {width} fields, found {len(row)}", raw))
            continue
        for target, pos in plan:
            target.append(row[pos] if pos is not None else None)
        lines_out.append(line)
    parsed.columns = cols


def _parse_jsonl(spec: SourceSpec, text: str, parsed: ParsedFile) -> None:
    cols: dict[str, list[Any]] = {name: [] for name in spec.column_names}
    names = spec.column_names
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")  # split on newline only: JSON strings may hold U+2028 and friends
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            parsed.rejects.append((lineno, f"invalid JSON: {exc.__class__.__name__}: {exc}", line[:RAW_RECORD_LIMIT]))
            continue
        if not isinstance(record, dict):
            parsed.rejects.append((lineno, f"expected a JSON object, found {type(record).__name__}", line[:RAW_RECORD_LIMIT]))
            continue
        for name in names:
            cols[name].append(_to_text(record.get(name)))
        parsed.lines.append(lineno)
    parsed.columns = cols


def _parse_parquet(spec: SourceSpec, parsed: ParsedFile) -> None:
    try:
        table = pq.read_table(parsed.path)
    except Exception as exc:  # any unreadable Parquet is one rejected record, never a crash
        parsed.rejects.append((None, f"unreadable Parquet file: {exc}", ""))
        return
    missing = [c.name for c in spec.columns if c.required and c.name not in table.column_names]
    if missing:
        reason = f"missing required column(s): {', '.join(missing)}"
        for i in range(table.num_rows):
            parsed.rejects.append((i + 1, reason, ""))
        return
    arrays = {}
    for c in spec.columns:
        if c.name in table.column_names:
            arrays[c.name] = table.column(c.name)
        else:
            arrays[c.name] = pa.nulls(table.num_rows, pa.string())
    parsed.arrow = pa.table(arrays)
    parsed.lines = list(range(1, table.num_rows + 1))


def parse_file(spec: SourceSpec, path: Path, landing_dir: Path) -> ParsedFile:
    data = path.read_bytes()
    parsed = ParsedFile(path=path, rel=str(path.relative_to(landing_dir)), sha256=hashlib.sha256(data).hexdigest(),
                        size=len(data))
    if spec.format == "parquet":
        _parse_parquet(spec, parsed)
        return parsed
    text = _decode(data, parsed)
    if text is None:
        return parsed
    if spec.format == "csv":
        _parse_csv(spec, text, parsed)
    else:
        _parse_jsonl(spec, text, parsed)
    return parsed


# ---- validation and load ----------------------------------------------------------------

_INTEGER_TYPES = {"INTEGER", "BIGINT", "SMALLINT"}
# A time of day followed by an offset (Z, +08:00, +0800) or a zone name (UTC, GMT, PST,
# America/New_York). A bare date such as 2026-10-31 is not zoned: its "-31" is the day.
_CLOCK = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
_ZONED = rf"{_CLOCK}\s*(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$|{_CLOCK}\s+[A-Za-z][A-Za-z_/+-]*$"
_RFC2822 = "['%a, %d %b %Y %H:%M:%S %z', '%d %b %Y %H:%M:%S %z', '%a, %d %b %Y %H:%M %z']"
_SLASHED = "['%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d']"


def typed_sql(c: Column, timezone: str) -> str:
    """SQL for the column's value in its declared type, NULL when it cannot be read.

    Integers must be written as integers ('4.5' is not silently rounded to 5). Timestamps are
    read in the forms exports use: ISO 8601 (space or T), Y/M/D with slashes, Unix epoch seconds
    or milliseconds, and e-mail dates (RFC 2822, 'Fri, 30 Oct 2026 10:00:00 +0800'). Those that
    carry a zone (Z, +08:00, epochs are UTC) are converted to the contact centre's local time;
    naive ones are taken as local already. Day-first or month-first forms (30/10/2026) are
    ambiguous and are not read: they are quarantined rather than guessed.
    """
    text = f"nullif(trim(\"{c.name}\"::varchar), '')"
    if c.type in _INTEGER_TYPES:
        return f"case when regexp_full_match({text}, '[+-]?[0-9]+') then try_cast({text} as {c.type}) end"
    if c.type == "TIMESTAMP":
        return (f"case when regexp_full_match({text}, '[0-9]{{10}}(\\.[0-9]+)?') "
                f"then timezone('{timezone}', to_timestamp(try_cast({text} as double))) "
                f"when regexp_full_match({text}, '[0-9]{{13}}') "
                f"then timezone('{timezone}', to_timestamp(try_cast({text} as bigint) / 1000.0)) "
                f"when regexp_matches({text}, '{_ZONED}') "
                f"then timezone('{timezone}', coalesce(try_cast({text} as timestamptz), "
                f"try_strptime(regexp_replace({text}, ' (GMT|UTC|UT)$', ' +0000'), {_RFC2822}))) "
                f"else coalesce(try_cast({text} as timestamp), try_strptime({text}, {_SLASHED})) end")
    if c.type == "VARCHAR":
        return f"\"{c.name}\"::varchar"
    return f"try_cast({text} as {c.type})"


def _problem_sql(c: Column, max_chars: int, timezone: str, future_hours: int = 24) -> list[str]:
    q = f'"{c.name}"'
    val = f"nullif(trim({q}::varchar), '')"
    typed = typed_sql(c, timezone)
    problems = []
    if c.required:
        problems.append(f"case when {val} is null then '{c.name} is required' end")
    problems.append(
        f"case when length({q}::varchar) > {max_chars} then '{c.name}: ' || length({q}::varchar) "
        f"|| ' characters exceed the {max_chars} limit' end")
    if c.type != "VARCHAR":
        quote = "''"
        problems.append(
            f"case when {val} is not null and ({typed}) is null then "
            f"'{c.name}: cannot read {quote}' || left({val}, 40) || '{quote} as {c.type}' end")
    if c.check:
        problems.append(f"case when ({typed}) is not null and not ({_sub(c.check, f'({typed})')}) "
                        f"then '{c.check_message}' end")
    if c.type == "TIMESTAMP":
        # An event cannot happen after it was exported: a future time is a clock or format error
        # (and would stretch every daily series and forecast to that date). 'epoch', infinities and
        # times before 1970 are placeholders, not events.
        shown = f"left(cast(({typed}) as varchar), 16)"
        problems.append(
            f"case when isinf(({typed})) or ({typed}) < timestamp '1970-01-02' "
            f"then '{c.name}: ' || {shown} || ' is not a plausible event time' "
            f"when ({typed}) > timezone('{timezone}', now()) + interval {int(future_hours)} hour "
            f"then '{c.name}: ' || {shown} || ' is in the future "
            f"(more than {int(future_hours)} h after loading)' end")
    return problems


def _sub(check: str, typed: str) -> str:
    """Put the typed value into a check written in terms of ``v``."""
    return re.sub(r"\bv\b", typed, check)


def _stage_table(spec: SourceSpec, files: list[ParsedFile]) -> pa.Table:
    tables = []
    for f in files:
        if not f.lines:
            continue
        if f.arrow is not None:
            base = f.arrow
        else:
            base = pa.table({name: pa.array(f.columns[name], pa.string()) for name in spec.column_names})
        n = base.num_rows
        base = base.append_column("_source_file", pa.array([f.rel] * n, pa.string()))
        base = base.append_column("_line", pa.array(f.lines, pa.int64()))
        base = base.append_column("_file_sha256", pa.array([f.sha256] * n, pa.string()))
        tables.append(base)
    if not tables:
        return pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # Parquet files with clashing types: compare as text
        return pa.concat_tables([t.cast(pa.schema([(n, pa.string()) for n in t.column_names])) for t in tables])


def load_batch(conn: duckdb.DuckDBPyConnection, spec: SourceSpec, files: list[ParsedFile],
               replaced: set[str], max_chars: int, timezone: str = "Asia/Shanghai",
               future_hours: int = 24) -> tuple[int, int]:
    """Validate and load parsed files in one transaction; returns (loaded, quarantined)."""
    stage = _stage_table(spec, files)
    reasons = [p for c in spec.columns for p in _problem_sql(c, max_chars, timezone, future_hours)]
    conn.execute("begin transaction")
    try:
        for rel in replaced:
            conn.execute(f"delete from raw.{spec.name} where _source_file = ?", [rel])
            conn.execute("delete from raw.quarantine where source = ? and source_file = ?", [spec.name, rel])
            conn.execute("delete from raw._load_manifest where source = ? and source_file = ?", [spec.name, rel])
        loaded = quarantined = 0
        if stage.num_rows:
            conn.register("_stage_arrow", stage)
            conn.execute(f"""
                create or replace temp table _checked as
                select *, concat_ws('; ', {', '.join(reasons)}) as _reason from _stage_arrow""")
            conn.unregister("_stage_arrow")
            casts = ", ".join(typed_sql(c, timezone) for c in spec.columns)
            names = ", ".join(f'"{c.name}"' for c in spec.columns)
            conn.execute(f"""
                insert into raw.{spec.name} ({names}, _source_file, _line, _file_sha256, _loaded_at)
                select {casts}, _source_file, _line, _file_sha256, now()::timestamp
                from _checked where _reason = ''""")
            record = "to_json(struct_pack(" + ", ".join(f'"{c.name}" := "{c.name}"' for c in spec.columns) + "))"
            conn.execute(f"""
                insert into raw.quarantine
                select ?, _source_file, _line, _reason, left({record}::varchar, {RAW_RECORD_LIMIT}),
                       _file_sha256, now()::timestamp
                from _checked where _reason <> ''""", [spec.name])
            counts = conn.execute("""
                select _source_file, count(*) filter (where _reason = ''), count(*) filter (where _reason <> '')
                from _checked group by 1""").fetchall()
            conn.execute("drop table _checked")
        else:
            counts = []
        per_file = {rel: (ok, bad) for rel, ok, bad in counts}
        rejects = [(spec.name, f.rel, line, reason, raw, f.sha256) for f in files for line, reason, raw in f.rejects]
        if rejects:
            conn.executemany(
                "insert into raw.quarantine values (?, ?, ?, ?, ?, ?, now()::timestamp)", rejects)
        manifest = []
        for f in files:
            ok, bad = per_file.get(f.rel, (0, 0))
            bad += len(f.rejects)
            loaded += ok
            quarantined += bad
            status = "loaded" if bad == 0 else ("quarantined" if ok == 0 and f.rows_in else "partial")
            if f.rows_in == 0:
                status = "empty"
            manifest.append((spec.name, f.rel, f.sha256, f.size, f.rows_in, ok, bad, status, f.note or None,
                             f.mtime_ns))
        conn.executemany(
            "insert into raw._load_manifest values (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::timestamp, ?)", manifest)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return loaded, quarantined


def landing_files(spec: SourceSpec, landing_dir: Path) -> tuple[list[Path], list[Path]]:
    """(files in the source's format, files of any other type) in a stable order."""
    folder = landing_dir / spec.name
    if not folder.is_dir():
        return [], []
    every = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    good = [p for p in every if p.suffix.lower() in spec.extensions]
    return good, [p for p in every if p.suffix.lower() not in spec.extensions]


_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def file_day(path: Path) -> date | None:
    """The day a landing file belongs to, from a YYYY-MM-DD in its name (None if it has none)."""
    match = _DAY_IN_NAME.search(path.name)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def load_source(conn: duckdb.DuckDBPyConnection, spec: SourceSpec, landing_dir: Path,
                max_chars: int = 100_000, batch_files: int = 400, batch_rows: int = 2_000_000,
                wants_day: Callable[[date | None], bool] | None = None,
                timezone: str = "Asia/Shanghai", future_hours: int = 24) -> LoadReport:
    """Load every new or changed landing file of one source. Safe to call any number of times.

    ``wants_day`` restricts the load to files of some days (a Dagster partition range); files
    without a day in their name are always considered.
    """
    started = time.perf_counter()
    ensure_schema(conn, (spec,))
    report = LoadReport(spec.name)
    rows = conn.execute("select source_file, file_sha256, size_bytes, file_mtime_ns from raw._load_manifest "
                        "where source = ?", [spec.name]).fetchall()
    known = {rel: sha for rel, sha, _, _ in rows}
    stat_of = {rel: (size, mtime) for rel, _, size, mtime in rows if mtime is not None}
    stamp: list[tuple[int, str, str]] = []  # (mtime, rel, sha) of known files read again with unchanged content
    # Content counts as "already loaded" only if it was read as this source's format: a file
    # once rejected as .txt and renamed to .csv must be read again.
    known_shas = {sha for rel, sha in known.items() if Path(rel).suffix.lower() in spec.extensions}
    files, strangers = landing_files(spec, landing_dir)
    if wants_day is not None:
        files = [p for p in files if wants_day(file_day(p))]
        strangers = [p for p in strangers if wants_day(file_day(p))]
    report.files_seen = len(files) + len(strangers)
    batch: list[ParsedFile] = []
    replaced: set[str] = set()
    rows_in_batch = 0

    def flush() -> None:
        nonlocal batch, replaced, rows_in_batch
        if batch:
            ok, bad = load_batch(conn, spec, batch, replaced, max_chars, timezone, future_hours)
            report.rows_loaded += ok
            report.rows_quarantined += bad
            report.rows_in += sum(f.rows_in for f in batch)
            report.files_loaded += len(batch)
        batch, replaced, rows_in_batch = [], set(), 0

    for path in files + strangers:
        rel = str(path.relative_to(landing_dir))
        st = path.stat()
        if stat_of.get(rel) == (st.st_size, st.st_mtime_ns):
            report.files_skipped += 1  # untouched since it was loaded
            continue
        digest = sha256_of(path)
        if known.get(rel) == digest or (rel not in known and digest in known_shas):
            report.files_skipped += 1  # same content already loaded, under this or another name
            if known.get(rel) == digest:
                stamp.append((st.st_mtime_ns, rel, digest))
            continue
        if rel in known:
            replaced.add(rel)
            known_shas.discard(known[rel])  # its old content is gone; a copy of it elsewhere is new again
            report.files_replaced += 1
        if path in strangers:
            parsed = ParsedFile(path=path, rel=rel, sha256=digest, size=st.st_size)
            parsed.rejects.append((None, f"unsupported file type '{path.suffix}' for source {spec.name} "
                                         f"(expected {', '.join(spec.extensions)})", ""))
        else:
            parsed = parse_file(spec, path, landing_dir)
        parsed.mtime_ns = st.st_mtime_ns
        batch.append(parsed)
        if path not in strangers:
            known_shas.add(digest)
        rows_in_batch += parsed.rows_in
        if len(batch) >= batch_files or rows_in_batch >= batch_rows:
            flush()
    flush()
    if stamp:  # remember the stat of files whose content was checked, so the next run need not hash them
        conn.executemany("update raw._load_manifest set file_mtime_ns = ? where source = ? and source_file = ? "
                         "and file_sha256 = ?", [(m, spec.name, rel, sha) for m, rel, sha in stamp])
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def quarantine_unrouted(conn: duckdb.DuckDBPyConnection, landing_dir: Path, sources: tuple[SourceSpec, ...] = SOURCES
                        ) -> int:
    """Report files no source will read (a misspelt folder, a file at the top level).

    Each such file gets one quarantine row and a manifest row (source ``_unrouted``), once per
    content, so it shows on the data-quality page instead of lying unseen in the landing folder.
    """
    ensure_schema(conn, ())
    if not landing_dir.is_dir():
        return 0
    names = {s.name for s in sources}
    known = {(rel, sha) for rel, sha in conn.execute(
        "select source_file, file_sha256 from raw._load_manifest where source = '_unrouted'").fetchall()}
    found = []
    for path in sorted(landing_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(landing_dir)
        if len(rel.parts) > 1 and rel.parts[0] in names:
            continue
        digest = sha256_of(path)
        if (str(rel), digest) in known:
            continue
        where = f"folder '{rel.parts[0]}'" if len(rel.parts) > 1 else "the top of the landing folder"
        reason = f"{where} is not a known source; move the file into one of: {', '.join(sorted(names))}"
        found.append((str(rel), digest, path.stat().st_size, reason))
    if found:
        conn.execute("begin transaction")
        try:
            conn.executemany("insert into raw.quarantine values ('_unrouted', ?, null, ?, null, ?, now()::timestamp)",
                             [(rel, reason, digest) for rel, digest, _, reason in found])
            conn.executemany(
                "insert into raw._load_manifest values ('_unrouted', ?, ?, ?, 1, 0, 1, 'quarantined', ?, "
                "now()::timestamp, null)", [(rel, digest, size, reason) for rel, digest, size, reason in found])
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
    return len(found)
