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
   values, limits, range and order rules (sources.py), ids free of control characters and
   unambiguous time zones are validated in one SQL pass;
4. good rows go to ``raw.<source>``, bad ones to ``raw.quarantine``, and one manifest row per
   file records rows in / loaded / quarantined, all in one transaction per batch, so a
   killed run leaves nothing half-loaded.

The landing folder is a trust boundary (anyone who can drop a file there is an input):
only regular files are opened, never through a symbolic link, and only inside the landing
folder; links, devices, FIFOs, sockets and hidden (dot) files are not read but each gets a
manifest row (status ``not_read``) and a quarantine row saying why, so nothing is skipped
unseen. Counts are kept per physical line (LF, CRLF or CR): the manifest says how many lines
a file has and where each went (header, blank, a record, or a continuation of a quoted
multi-line record), so ``physical_lines = header_lines + blank_lines + rows_in +
continuation_lines`` holds for every CSV and JSON Lines file.

A key that arrives more than once is kept in every version; staging keeps the latest export
(``LATEST_FIRST``) and the view ``raw.duplicate_keys`` lists each version it drops.
"""

from __future__ import annotations

import csv
import errno
import functools
import hashlib
import json
import os
import re
import stat
import sys
import time
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.sources import SOURCES, Column, RowCheck, SourceSpec

RAW_RECORD_LIMIT = 2_000  # characters of an offending record kept in quarantine
_META_COLUMNS = ("_source_file", "_line", "_file_sha256", "_loaded_at", "_file_modified_at")
NOT_READ = ""  # file_sha256 of a landing entry that was never opened: there is no content to hash

# Which version of a record staging keeps when its key arrives more than once (dbt macro
# ``latest_first`` spells the same order; a test holds them together): the latest export wins,
# by the export day in the file name (a re-delivered old export never beats a newer day), then
# the file's modification time (when the exporter wrote it), then the file name, then the line.
LATEST_FIRST = ("regexp_extract(_source_file, '([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) desc nulls last, "
                "_file_modified_at desc nulls last, _source_file desc, _line desc")

csv.field_size_limit(sys.maxsize)  # huge fields are measured and quarantined, not a crash


class NotReadable(Exception):
    """A landing entry that must not be opened; the message is the reason recorded for it."""


@dataclass(frozen=True)
class LandingEntry:
    """One thing found under the landing folder, examined without following links.

    ``problem`` is why it will not be read (a link, a device, a hidden file...), None for a
    regular file that may be. ``identity`` (device, inode) lets the reader check that what
    it opens is what was examined, not something swapped in between.
    """

    path: Path
    rel: str
    size: int | None
    mtime_ns: int | None
    problem: str | None = None
    identity: tuple[int, int] | None = None


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
    # Line accounting of text files (None for Parquet): every physical line is the header, blank,
    # the first line of a record (loaded or rejected), or a continuation of a multi-line record.
    physical_lines: int | None = None
    header_lines: int = 0
    blank_lines: int = 0
    continuation_lines: int = 0

    @property
    def rows_in(self) -> int:
        return len(self.lines) + len(self.rejects)

    quote_error_ranges: list[tuple[int, int]] = field(default_factory=list)  # 1-based line ranges

    def add_note(self, text: str) -> None:
        self.note = f"{self.note}; {text}" if self.note else text

    def note_quote_errors(self, shown: int = 20) -> None:
        """One capped sentence for every quote-error range (a file with a stray quote on every line has
        hundreds of thousands: a note growing per range would cost quadratic time and megabytes)."""
        ranges = self.quote_error_ranges
        if ranges:
            listed = ", ".join(f"{a}-{b}" for a, b in ranges[:shown])
            more = f" and {len(ranges) - shown:,} more" if len(ranges) > shown else ""
            self.add_note(f"quote error{'s' if len(ranges) > 1 else ''}: lines {listed}{more} read line by line")


@dataclass
class LoadReport:
    source: str
    files_seen: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    files_replaced: int = 0
    files_not_read: int = 0  # links, devices, hidden files... newly recorded in this run
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


_QUARANTINE_COLUMNS = "source, source_file, line, reason, raw_record, file_sha256, quarantined_at"
_MANIFEST_COLUMNS = ("source, source_file, file_sha256, size_bytes, rows_in, rows_loaded, rows_quarantined, status, "
                     "note, loaded_at, file_mtime_ns, physical_lines, header_lines, blank_lines, continuation_lines")


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
    for name in ("file_mtime_ns", "physical_lines", "header_lines", "blank_lines", "continuation_lines"):
        conn.execute(f"alter table raw._load_manifest add column if not exists {name} bigint")
    for spec in specs:
        cols = ",\n".join(f'"{c.name}" {c.type}' for c in spec.columns)
        conn.execute(f"""
            create table if not exists raw.{spec.name} (
                {cols},
                _source_file varchar not null, _line bigint, _file_sha256 varchar not null,
                _loaded_at timestamp not null, _file_modified_at timestamp
            )""")
        _add_missing_columns(conn, spec)


def _add_missing_columns(conn: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    """A column added to the contract later is added to the table (older rows read NULL).

    ``_file_modified_at`` of rows loaded before it existed is filled from the manifest, which
    has recorded each file's modification time since then, so they keep their place in the
    latest-export-wins order.
    """
    present = {r[0] for r in conn.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ?",
        [spec.name]).fetchall()}
    for c in spec.columns:
        if c.name not in present:
            conn.execute(f'alter table raw.{spec.name} add column "{c.name}" {c.type}')
    if "_file_modified_at" not in present:
        conn.execute(f"alter table raw.{spec.name} add column _file_modified_at timestamp")
        conn.execute(f"""
            update raw.{spec.name} as t set _file_modified_at = make_timestamp(m.file_mtime_ns // 1000)
            from raw._load_manifest as m
            where m.source = ? and m.source_file = t._source_file and m.file_sha256 = t._file_sha256
              and m.file_mtime_ns is not null""", [spec.name])


def refresh_duplicate_keys(conn: duckdb.DuckDBPyConnection, specs: tuple[SourceSpec, ...] = SOURCES) -> None:
    """(Re)create the view ``raw.duplicate_keys``: every record version staging does not keep.

    Why: a key delivered twice (a re-export, two overlapping files) is legal, but which copy
    wins must be a rule people can check, not an accident of file names. One row per losing
    version: its file and line, the kept version's file and line, how many versions exist.
    A view costs nothing until the Data quality page (or anyone) reads it, and is never stale.
    """
    columns: dict[str, set[str]] = {}
    for table, column in conn.execute("select table_name, column_name from duckdb_columns() "
                                      "where schema_name = 'raw' and database_name = current_database()").fetchall():
        columns.setdefault(table, set()).add(column)
    parts = []
    for spec in specs:
        if spec.name not in columns:
            continue
        if not {"_file_modified_at", *spec.column_names} <= columns[spec.name]:
            _add_missing_columns(conn, spec)  # a table left by an older version
        keys = ", ".join(f'"{k}"' for k in spec.natural_key)
        label = " || ', ' || ".join(f"'{k}=' || coalesce(\"{k}\"::varchar, '')" for k in spec.natural_key)
        parts.append(f"""
            select '{spec.name}' as source, {label} as natural_key, _source_file as source_file, _line as line,
                   _file_modified_at as file_modified_at,
                   first_value(_source_file) over latest as kept_file, first_value(_line) over latest as kept_line,
                   count(*) over (partition by {keys}) as versions
            from raw.{spec.name}
            window latest as (partition by {keys} order by {LATEST_FIRST})
            qualify count(*) over (partition by {keys}) > 1 and row_number() over latest > 1""")
    if not parts:
        parts = ["select null::varchar as source, null::varchar as natural_key, null::varchar as source_file, "
                 "null::bigint as line, null::timestamp as file_modified_at, null::varchar as kept_file, "
                 "null::bigint as kept_line, null::bigint as versions where false"]
    conn.execute("create or replace view raw.duplicate_keys as " + "\nunion all".join(parts))
    conn.execute("comment on view raw.duplicate_keys is 'Record versions staging drops because the same key arrived "
                 "again: the latest export wins (export day in the file name, then file modification time, then "
                 "file name, then line).'")


# ---- the landing folder ----------------------------------------------------------------

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _inside(path: Path, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(root)


def _why_not_read(path: Path, st: os.stat_result, root: Path) -> str | None:
    """Why a landing entry is not read, None if it is a regular file (or folder) that may be."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        where = "inside" if _inside(path, root) else "outside"
        return (f"symbolic link (to '{target[:200]}', {where} the landing folder): links are never followed; "
                "copy the file itself into the landing folder")
    if stat.S_ISDIR(mode):
        if path.name.startswith("."):
            return ("hidden folder (name starts with '.'): its files are not read; rename it without the leading "
                    "'.' to load them")
        return None
    if stat.S_ISREG(mode):
        if path.name.startswith("."):
            return ("hidden file (name starts with '.', as editor, sync and partial-upload files do): not read; "
                    "rename it without the leading '.' to load it")
        if not _inside(path, root):
            return "resolves to a path outside the landing folder: not read"
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return f"not a regular file ({kind}): not read"


def scan_landing(landing_dir: Path, folder: Path, skip: frozenset[str] = frozenset()) -> list[LandingEntry]:
    """Every file-like entry under ``folder``, in a stable order, without following any link.

    Regular files come back with ``problem`` None; links, devices, FIFOs, sockets, hidden files
    and folders, and folders that cannot be listed come back with the reason they are not read.
    Folders (or links) named in ``skip``, directly under ``folder``, are left out: someone else
    reports on them.
    """
    root = Path(os.path.realpath(landing_dir))
    out: list[LandingEntry] = []

    def entry(path: Path, st: os.stat_result | None, problem: str | None) -> LandingEntry:
        return LandingEntry(path, str(path.relative_to(landing_dir)), st.st_size if st else None,
                            st.st_mtime_ns if st else None, problem, (st.st_dev, st.st_ino) if st else None)

    def visit(current: Path, top: bool) -> None:
        try:
            with os.scandir(current) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            out.append(entry(current, None, f"folder cannot be listed ({exc.strerror or exc}): its files are not read"))
            return
        for child in children:
            path = Path(child.path)
            try:
                st = child.stat(follow_symlinks=False)
            except OSError as exc:
                out.append(entry(path, None, f"cannot be examined ({exc.strerror or exc}): not read"))
                continue
            if top and child.name in skip and (stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue
            problem = _why_not_read(path, st, root)
            if problem is None and stat.S_ISDIR(st.st_mode):
                visit(path, False)
            else:
                out.append(entry(path, st, problem))

    visit(folder, True)
    return out


def landing_files(spec: SourceSpec, landing_dir: Path) -> tuple[list[LandingEntry], list[LandingEntry],
                                                                   list[LandingEntry]]:
    """(files in the source's format, regular files of any other type, entries not read), stably ordered."""
    folder = landing_dir / spec.name
    try:
        st = os.lstat(folder)
    except OSError:
        return [], [], []
    if stat.S_ISLNK(st.st_mode):
        where = "inside" if _inside(folder, Path(os.path.realpath(landing_dir))) else "outside"
        problem = (f"the source folder is a symbolic link ({where} the landing folder): links are never followed, "
                   f"so none of its files is read; make landing/{spec.name} a real folder holding the files")
        return [], [], [LandingEntry(folder, spec.name, st.st_size, st.st_mtime_ns, problem)]
    if not stat.S_ISDIR(st.st_mode):
        return [], [], []  # a file named like the source: quarantine_unrouted reports it
    every = scan_landing(landing_dir, folder)
    readable = [e for e in every if e.problem is None]
    good = [e for e in readable if e.path.suffix.lower() in spec.extensions]
    strangers = [e for e in readable if e.path.suffix.lower() not in spec.extensions]
    return good, strangers, [e for e in every if e.problem is not None]


def _open_regular(path: Path, identity: tuple[int, int] | None = None) -> int:
    """A file descriptor on ``path`` if, once opened, it is still a regular file (and the one examined).

    O_NOFOLLOW refuses a link swapped in after the folder was scanned; O_NONBLOCK keeps a FIFO
    swapped in from hanging the run; the (device, inode) check catches any other substitution.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotReadable("became a symbolic link before it was read: links are never followed") from exc
        raise NotReadable(f"cannot be opened ({exc.strerror or exc}): not read") from exc
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "is no longer a regular file: not read"
    elif identity is not None and (st.st_dev, st.st_ino) != identity:
        problem = "was replaced while the landing folder was being read: not read this time"
    if problem:
        os.close(fd)
        raise NotReadable(problem)
    return fd


def read_landing_file(path: Path, identity: tuple[int, int] | None = None) -> bytes:
    """The bytes of a landing file, opened only as a regular file (see :func:`_open_regular`)."""
    with os.fdopen(_open_regular(path, identity), "rb") as fh:
        return fh.read()


def sha256_of(path: Path, identity: tuple[int, int] | None = None) -> str:
    """SHA-256 of a landing file, opened only as a regular file (and, given ``identity``, only as
    the one examined: see :func:`_open_regular`)."""
    h = hashlib.sha256()
    with os.fdopen(_open_regular(path, identity), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- parsing ----------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")
_QUOTE_OR_BREAK = re.compile(r'"|\r\n|\r|\n')


def _split_lines(text: str, quoted: bool = False) -> tuple[list[str], str | list[str]]:
    """Physical lines of a text and the line break after each: one string when every break is the
    same (LF, CRLF or CR alone, the usual case, split without a regular expression), else a list.

    LF and CRLF end a line; so does CR in a file without any LF (a CR-only export), and a bare
    CR in a file that also has LFs (a mixed export) -- except, with ``quoted`` (CSV), inside a
    quoted field, where a lone CR is part of the text as the csv module reads it. Unicode
    separators (U+2028, NEL...) never end a line: JSON strings and chat text may hold them.
    """
    crs = text.count("\r")
    lfs = text.count("\n") if crs else 0
    crlfs = text.count("\r\n") if crs and lfs else 0
    breaks: str | list[str]
    if not crs:
        lines, breaks = text.split("\n"), "\n"
    elif not lfs:
        lines, breaks = text.split("\r"), "\r"
    elif crlfs == crs == lfs:  # a well-formed Windows export
        lines, breaks = text.split("\r\n"), "\r\n"
    elif not quoted or crs == crlfs:
        parts = _LINE_BREAK.split(text)
        lines, breaks = parts[0::2], parts[1::2]
    else:
        lines, breaks, start, inside = [], [], 0, False
        for m in _QUOTE_OR_BREAK.finditer(text):
            token = m.group()
            if token == '"':
                inside = not inside
            elif token != "\r" or not inside:
                lines.append(text[start:m.start()])
                breaks.append(token)
                start = m.end()
        lines.append(text[start:])
    if lines and lines[-1] == "":
        lines.pop()  # the break at the end of the last line does not start another one
    return lines, breaks


def _decode(data: bytes, parsed: ParsedFile) -> str | None:
    """UTF-8 (with or without BOM) or nothing: a wrong encoding quarantines every line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = (f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                  "re-export it as UTF-8")
        body = data.splitlines()  # bytes split at LF, CRLF and CR only (as _split_lines, quotes aside)
        parsed.physical_lines = len(body)
        first = 1
        if parsed.path.suffix.lower() == ".csv" and body:
            body, first, parsed.header_lines = body[1:], 2, 1  # the header line is not a record
        for i, raw in enumerate(body):
            if raw.strip():
                parsed.rejects.append((first + i, reason, raw.decode("utf-8", "replace")[:RAW_RECORD_LIMIT]))
            else:
                parsed.blank_lines += 1
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


def _candidates(lines: list[str]) -> list[tuple[int, int, bool]]:
    """Cut physical lines into records by quote balance: (first index, last index, balanced).

    Python's csv reader lets one unbalanced quote swallow the rest of the file into a single
    field. A record is therefore complete when its quotes balance; one that stays unbalanced
    for MAX_RECORD_LINES lines (or to the end of the file) is its first line alone, unbalanced,
    and cutting resumes on the next line.
    """
    out = []
    i, n = 0, len(lines)
    while i < n:
        quotes = lines[i].count('"')
        j = i
        while quotes % 2 and j + 1 < n and j - i < MAX_RECORD_LINES:
            j += 1
            quotes += lines[j].count('"')
        if quotes % 2:
            out.append((i, i, False))
            i += 1
        else:
            out.append((i, j, True))
            i = j + 1
    return out


def _parse_one(text: str) -> tuple[list[str] | None, str | None]:
    """(fields, None) if ``text`` is exactly one CSV record, else (None, what is wrong)."""
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        return None, _csv_error(exc)
    if len(rows) > 1:
        return None, "holds more than one record"
    return (rows[0] if rows else []), None


def _csv_error(exc: csv.Error) -> str:
    """The csv module's message, in words an exporter can act on."""
    text = str(exc)
    return {"unexpected end of data": "a quote opened here is not closed on this line"}.get(text, text)


def _parse_texts(texts: list[str]) -> tuple[list[list[str] | None], dict[int, str]]:
    """:func:`_parse_one` for each text -- (fields or None per text, error per failed text) --
    but through one csv reader while the texts behave, which is several times faster.

    A record the shared reader takes from several texts (a quote that the parity count saw as
    balanced but the reader did not) is not accepted as one: each of those texts is parsed
    alone, so no text is silently merged into another.
    """
    rows: list[list[str] | None] = [None] * len(texts)
    errors: dict[int, str] = {}

    def alone(first: int, stop: int) -> None:
        for k in range(first, stop):
            rows[k], error = _parse_one(texts[k])
            if error:
                errors[k] = error

    pos = 0
    while pos < len(texts):
        handed = [pos]  # how many texts the reader has taken

        def feed(start: int = pos):
            for k in range(start, len(texts)):
                handed[0] = k + 1
                yield texts[k]

        last = pos
        try:
            for row in csv.reader(feed(), strict=True):
                if handed[0] - last == 1:
                    rows[last] = row
                else:
                    alone(last, handed[0])
                last = handed[0]
            pos = len(texts)
        except csv.Error as exc:
            if handed[0] - last <= 1:
                errors[last] = _csv_error(exc)
            else:
                alone(last, handed[0])
            pos = max(handed[0], last + 1)
    return rows, errors


def _is_blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def _parse_csv(spec: SourceSpec, text: str, parsed: ParsedFile) -> None:
    lines, breaks = _split_lines(text, quoted=True)
    parsed.physical_lines = len(lines)
    if not lines:
        parsed.note = "empty file"
        return

    def joined(i: int, j: int) -> str:
        if i == j:
            return lines[i]
        if isinstance(breaks, str):
            return breaks.join(lines[i:j + 1])
        return "".join(lines[k] + breaks[k] for k in range(i, j)) + lines[j]

    cands = _candidates(lines)
    texts = [lines[i] if i == j else joined(i, j) for i, j, _ in cands]
    balanced = [k for k, (_, _, ok) in enumerate(cands) if ok]
    parsed_rows, parse_errors = _parse_texts([texts[k] for k in balanced])
    results: list[list[str] | None] = [None] * len(cands)
    errors: dict[int, str] = {}
    for n, k in enumerate(balanced):
        results[k] = parsed_rows[n]
        if n in parse_errors:
            errors[k] = parse_errors[n]

    rejects = parsed.rejects
    hi, hj, _ = cands[0]
    header_row = results[0]
    if header_row is None:
        # Without a header no line can be read; each is still reported on its own line.
        rejects.append((1, "unreadable CSV header (unbalanced quote or malformed quoting)",
                        lines[0][:RAW_RECORD_LIMIT]))
        for k in range(1, len(lines)):
            if lines[k].strip():
                rejects.append((k + 1, "not parsed: the file's header (line 1) is unreadable",
                                lines[k][:RAW_RECORD_LIMIT]))
            else:
                parsed.blank_lines += 1
        return
    parsed.header_lines = hj - hi + 1
    header = [h.strip() for h in header_row]
    missing = [c.name for c in spec.columns if c.required and c.name not in header]
    extra = [h for h in header if h not in spec.column_names]
    if extra:
        parsed.add_note(f"ignored extra columns: {', '.join(extra)}")
    names = spec.column_names
    index = {name: header.index(name) for name in names if name in header}
    cols: dict[str, list[Any]] = {name: [] for name in names}
    # (target list, field position or None) once per file, not per row: this loop is the hot path.
    plan = [(cols[name], index.get(name)) for name in names]
    width = len(header)
    lines_out = parsed.lines
    required = [index[c.name] for c in spec.columns if c.required and c.name in index]
    integers = [index[c.name] for c in spec.columns if c.type in _INTEGER_TYPES and c.name in index]

    def record_like(fields: list[str] | None) -> bool:
        """Would this line pass as a record of this file on its own? Then it is one, not text."""
        return (fields is not None and len(fields) == width and all(fields[p].strip() for p in required)
                and all(_INTEGER_TEXT.fullmatch(fields[p].strip()) or not fields[p].strip() for p in integers))

    def accept(line: int, row: list[str], raw: str) -> None:
        if missing:
            rejects.append((line, f"missing required column(s): {', '.join(missing)}", raw[:RAW_RECORD_LIMIT]))
        elif len(row) != width:
            rejects.append((line, f"expected {width} fields, found {len(row)}", raw[:RAW_RECORD_LIMIT]))
        else:
            for target, pos in plan:
                target.append(row[pos] if pos is not None else None)
            lines_out.append(line)

    def line_by_line(i: int, j: int) -> None:
        """Lines i..j could not be one record: read each alone, so none is lost or merged."""
        parsed.quote_error_ranges.append((i + 1, j + 1))
        for k in range(i, j + 1):
            row, error = _parse_one(lines[k])
            if row is not None and _is_blank(row):
                parsed.blank_lines += 1
            elif row is not None and len(row) == width and not missing:
                accept(k + 1, row, lines[k])
            else:
                detail = error or (f"missing required column(s): {', '.join(missing)}" if missing
                                   else f"expected {width} fields, found {len(row or [])}")
                rejects.append((k + 1, f"malformed CSV record: an unbalanced quote joins lines {i + 1}-{j + 1}, "
                                       f"which do not form one record; this line read alone: {detail}",
                                lines[k][:RAW_RECORD_LIMIT]))

    blank = 0
    for k in range(1, len(cands)):
        i, j, ok = cands[k]
        row = results[k]
        if i == j and row is not None:  # the hot path: one line, one record
            if not row or (len(row) == 1 and not row[0].strip()):
                blank += 1
            elif len(row) == width and not missing:
                for target, pos in plan:
                    target.append(row[pos] if pos is not None else None)
                lines_out.append(i + 1)
            else:
                accept(i + 1, row, lines[i])
            continue
        if not ok:
            rejects.append((i + 1, f"malformed CSV record: a quote opened on this line is not closed in the next "
                                   f"{MAX_RECORD_LINES} lines or before the end of the file; the line is read alone",
                            lines[i][:RAW_RECORD_LIMIT]))
        elif i == j:
            rejects.append((i + 1, f"malformed CSV record: {errors.get(k, 'unreadable')}", lines[i][:RAW_RECORD_LIMIT]))
        # A quoted field over several lines is legal CSV, unless it is really two stray quotes
        # pairing up across good records: then the record does not parse to the header's width,
        # or a line inside it is a complete record by itself.
        elif row is not None and len(row) == width and not any(
                record_like(_parse_one(lines[m])[0]) for m in range(i + 1, j + 1)):
            parsed.continuation_lines += j - i
            accept(i + 1, row, texts[k])
        else:
            line_by_line(i, j)
    parsed.note_quote_errors()
    parsed.blank_lines += blank
    parsed.columns = cols


def _parse_jsonl(spec: SourceSpec, text: str, parsed: ParsedFile) -> None:
    cols: dict[str, list[Any]] = {name: [] for name in spec.column_names}
    names = spec.column_names
    lines, _ = _split_lines(text)  # JSON strings hold no raw CR or LF, so every break ends a record
    parsed.physical_lines = len(lines)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            parsed.blank_lines += 1
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            parsed.rejects.append((lineno, f"invalid JSON: {exc.__class__.__name__}: {exc}", line[:RAW_RECORD_LIMIT]))
            continue
        if not isinstance(record, dict):
            parsed.rejects.append((lineno, f"expected a JSON object, found {type(record).__name__}",
                                   line[:RAW_RECORD_LIMIT]))
            continue
        for name in names:
            cols[name].append(_to_text(record.get(name)))
        parsed.lines.append(lineno)
    parsed.columns = cols


def _parse_parquet(spec: SourceSpec, data: bytes, parsed: ParsedFile) -> None:
    try:
        table = pq.read_table(pa.BufferReader(data))
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


def parse_file(spec: SourceSpec, path: Path, landing_dir: Path, identity: tuple[int, int] | None = None) -> ParsedFile:
    """Parse one landing file, opened only as a regular file (raises NotReadable otherwise)."""
    data = read_landing_file(path, identity)
    parsed = ParsedFile(path=path, rel=str(path.relative_to(landing_dir)), sha256=hashlib.sha256(data).hexdigest(),
                        size=len(data))
    if spec.format == "parquet":
        _parse_parquet(spec, data, parsed)
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
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_CLOCK = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
# A time of day followed by a zone: an ISO 8601 offset (Z, +08:00, +0800, -08), an offset written
# after UTC/GMT (UTC+3, GMT-5, UTC+05:30) or a name (UTC, Asia/Shanghai, Etc/GMT+5, EST5EDT, or an
# abbreviation such as CST). A bare date such as 2026-10-31 is not zoned: its "-31" is the day.
_ZONED = rf"{_CLOCK}\s*[A-Za-z+-]"
_ZONE_SPLIT = rf"^(.*{_CLOCK})\s*([A-Za-z+-].*)$"
_OFFSET_FORM = r"(?:(?i:UTC|GMT|UT)\s*)?[+-][0-9]{1,2}(?::?[0-9]{2})?"
_OFFSET_PARTS = r"([+-])([0-9]{1,2}):?([0-9]{2})?$"
_UTC_NAMES = "('Z', 'UTC', 'GMT', 'UT', 'UCT')"
_NAIVE_FORMATS = ("['%a, %d %b %Y %H:%M:%S', '%d %b %Y %H:%M:%S', '%a, %d %b %Y %H:%M', "
                  "'%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M']")
_SLASHED = "['%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d']"
_ZONE_MACRO = "_si_iana_zone"
# Characters an identifier may not hold: C0 controls (NUL, tab, line feed, ESC...), DEL, and
# invisible format characters (zero-width space and joiners, bidi marks, BOM). C1 codes and
# Unicode line separators are left alone: exports carry them as data (a NEL inside a JSON
# string is text, not a line break).
_ID_FORBIDDEN = r"[\x00-\x1f\x7f\p{Cf}]"


@functools.lru_cache(maxsize=1)
def iana_zone_names() -> tuple[str, ...]:
    """IANA time-zone names a timestamp may carry: those DuckDB can apply and tzdata defines.

    All-capitals names (EST, MST, HST, CET, PRC, GB, NZ...) are left out on purpose: written
    after a time they read as abbreviations, and abbreviations are ambiguous (EST is also
    Australian Eastern) unless SI_TZ_ABBREVIATIONS says what an exporter means by them. UTC and
    GMT are read as UTC separately. The POSIX-style names (EST5EDT, Etc/GMT+5, whose sign is
    inverted by POSIX convention) stay: they are unambiguous, and are read as IANA defines them.
    """
    with duckdb.connect() as conn:
        names = {r[0] for r in conn.execute("select name from pg_timezone_names()").fetchall()}
    tzdata = zoneinfo.available_timezones()
    if tzdata:
        names &= tzdata
    return tuple(sorted(n for n in names if not re.fullmatch(r"[A-Z]+", n)))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Helper columns a zoned time is read through (see _zone_columns_sql), dropped once it is typed.
_ZONE_HELPERS = {"split": "_zs_", "written": "_zw_", "zone": "_zz_", "base": "_zb_", "offset": "_zo_"}


def _zone_col(part: str, c: Column) -> str:
    """Name of the helper column holding one part of a zoned time of ``c``."""
    return f'"{_ZONE_HELPERS[part]}{c.name}"'


def _zone_columns_sql(c: Column, abbreviations: Mapping[str, str]) -> list[list[str]]:
    """Select items that read a zoned time's parts, one list per CTE level before ``typed``.

    Why: the typed value and the zone problem each need the base time, the zone as written, the
    zone after the abbreviation map and the offset, several times over; written inline, DuckDB
    ran the splitting regular expression about ten times per value (a zoned load took 2.5 times
    as long). Here each is computed once per value and referred to by name. The levels: the
    text split into base and zone (NULL for a time without a zone); the zone as written, the zone
    after the map and the base time; the offset's sign, hours and minutes (NULL for a zone that
    is not an offset).
    """
    t = _text_sql(c)
    split = _zone_col("split", c)
    raw = f"{split}.zone"
    zone = raw
    if abbreviations:
        cases = " ".join(f"when {_literal(k.upper())} then {_literal(v)}" for k, v in sorted(abbreviations.items()))
        zone = f"(case upper({raw}) {cases} else {raw} end)"
    base = f"coalesce(try_cast({split}.base as timestamp), try_strptime({split}.base, {_NAIVE_FORMATS}))"
    mapped = _zone_col("zone", c)
    return [
        [f"case when regexp_matches({t}, '{_ZONED}') "
         f"then regexp_extract({t}, '{_ZONE_SPLIT}', ['base', 'zone']) end as {split}"],
        [f"{raw} as {_zone_col('written', c)}", f"{zone} as {mapped}", f"{base} as {_zone_col('base', c)}"],
        [f"case when regexp_full_match({mapped}, '{_OFFSET_FORM}') then regexp_extract({mapped}, "
         f"'{_OFFSET_PARTS}', ['sign', 'hours', 'minutes']) end as {_zone_col('offset', c)}"],
    ]


def _offset_minutes_sql(offset: str) -> tuple[str, str]:
    """(signed offset in minutes, offset is within ±14:00) for the parts of an offset (``_OFFSET_PARTS``)."""
    hours = f"try_cast({offset}.hours as integer)"
    minutes = f"coalesce(try_cast(nullif({offset}.minutes, '') as integer), 0)"
    sign = f"(case when {offset}.sign = '-' then -1 else 1 end)"
    return f"({sign} * ({hours} * 60 + {minutes}))", f"({minutes} < 60 and {hours} * 60 + {minutes} <= 840)"


def _timestamp_sql(c: Column, timezone: str) -> str:
    """Local time for a timestamp text; NULL when it cannot be read unambiguously.

    Forms read: ISO 8601 (space or T), Y/M/D with slashes, Unix epoch seconds or milliseconds,
    e-mail dates (RFC 2822). A time may carry an ISO offset, 'UTC'/'GMT' with or without a
    signed offset (UTC-8 is eight hours behind UTC), or an IANA name (America/New_York,
    Etc/GMT+5 which POSIX defines as UTC-5, EST5EDT); such times are converted to the contact
    centre's zone. Abbreviations are read only through the configured map. Naive times are
    local already. Day-first or month-first forms (30/10/2026) are ambiguous and not read.
    A zoned time is read through the helper columns of :func:`_zone_columns_sql`.
    """
    t = _text_sql(c)
    tz = _literal(timezone)
    zone, parsed, parts = _zone_col("zone", c), _zone_col("base", c), _zone_col("offset", c)
    # Shifting a time at the edge of the representable range by its offset overflows (an error that
    # would stop the load): such times are no events anyway, so they are left unread (quarantined).
    base = (f"(case when {parsed} between timestamp '1000-01-01' and timestamp '9999-12-30' "
            f"then {parsed} end)")
    offset, offset_ok = _offset_minutes_sql(parts)
    return (f"case when {t} is null then null "
            f"when regexp_full_match({t}, '[0-9]{{10}}(\\.[0-9]+)?') "
            f"then timezone({tz}, to_timestamp(try_cast({t} as double))) "
            f"when regexp_full_match({t}, '[0-9]{{13}}') "
            f"then timezone({tz}, to_timestamp(try_cast({t} as bigint) / 1000.0)) "
            f"when {_zone_col('split', c)} is not null then case "
            f"when {parts} is not null and {offset_ok} "
            f"then timezone({tz}, timezone('UTC', {base} - to_minutes({offset}))) "
            f"when upper({zone}) in {_UTC_NAMES} then timezone({tz}, timezone('UTC', {base})) "
            f"when {_ZONE_MACRO}({zone}) then timezone({tz}, timezone({zone}, {base})) end "
            f"else coalesce(try_cast({t} as timestamp), try_strptime({t}, {_SLASHED})) end")


def _zone_problem_sql(c: Column) -> str:
    """Why a zoned time is not read (offset out of range, ambiguous abbreviation, unknown zone)."""
    raw_zone, zone, parts = _zone_col("written", c), _zone_col("zone", c), _zone_col("offset", c)
    _, offset_ok = _offset_minutes_sql(parts)
    shown = f"left({raw_zone}, 40)"
    return (f"case when {_zone_col('split', c)} is not null then case "
            f"when upper({raw_zone}) in ('AM', 'PM') "
            f"then '{c.name}: 12-hour times (AM/PM) are not read; export 24-hour times' "
            f"when {parts} is not null then case when not {offset_ok} "
            f"then '{c.name}: UTC offset ''' || {shown} || ''' is out of range (at most 14 hours)' end "
            f"when upper({zone}) in {_UTC_NAMES} or {_ZONE_MACRO}({zone}) then null "
            f"when regexp_full_match({zone}, '[A-Za-z]{{1,6}}') "
            f"then '{c.name}: time zone abbreviation ''' || {shown} || ''' is ambiguous (CST, BST, IST... each name "
            f"several zones); write an offset such as +08:00 or an IANA name such as Asia/Shanghai, or map it in "
            f"SI_TZ_ABBREVIATIONS' "
            f"else '{c.name}: unknown time zone ''' || {shown} || '''; write an offset such as -05:00 or an IANA "
            f"name such as America/New_York' end end")


def _text_sql(c: Column) -> str:
    """The staged value as trimmed text, NULL when empty."""
    return f"nullif(trim(\"{c.name}\"::varchar), '')"


def typed_sql(c: Column, timezone: str) -> str:
    """SQL for the column's value in its declared type, NULL when it cannot be read.

    Integers must be written as integers ('4.5' is not silently rounded to 5). Timestamps: see
    :func:`_timestamp_sql` (the zone macro must exist, see :func:`_create_zone_macro`, and the
    zone parts must have been selected before, see :func:`_zone_columns_sql`).
    """
    text = _text_sql(c)
    if c.type in _INTEGER_TYPES:
        return f"case when regexp_full_match({text}, '[+-]?[0-9]+') then try_cast({text} as {c.type}) end"
    if c.type == "TIMESTAMP":
        return _timestamp_sql(c, timezone)
    if c.type == "VARCHAR":
        return f"\"{c.name}\"::varchar"
    return f"try_cast({text} as {c.type})"


def _create_zone_macro(conn: duckdb.DuckDBPyConnection) -> None:
    """The macro ``_si_iana_zone(name)`` the timestamp SQL uses, once per connection.

    Call it outside a transaction: the probe that finds the macro missing is an error, which
    would abort an open transaction.
    """
    try:
        conn.execute(f"select {_ZONE_MACRO}('UTC')").fetchall()
        return
    except duckdb.Error:
        pass
    names = ", ".join(_literal(n) for n in iana_zone_names())
    conn.execute(f"create or replace temp macro {_ZONE_MACRO}(z) as list_contains([{names}], z)")


def _typed_name(c: Column) -> str:
    return f'"_t_{c.name}"'


def _problem_sql(c: Column, max_chars: int, timezone: str, future_hours: int = 24, identifier: bool = False
                 ) -> list[str]:
    """Reasons a value is rejected, as SQL over the staged text and its typed value ``_t_<name>``."""
    q = f'"{c.name}"'
    val = f"nullif(trim({q}::varchar), '')"
    typed = _typed_name(c)
    problems = []
    if c.required:
        problems.append(f"case when {val} is null then '{c.name} is required' end")
    problems.append(
        f"case when length({q}::varchar) > {max_chars} then '{c.name}: ' || length({q}::varchar) "
        f"|| ' characters exceed the {max_chars} limit' end")
    if identifier:
        # An id that differs from another by a NUL, tab or invisible mark looks the same and joins to nothing.
        problems.append(
            f"case when regexp_matches({q}::varchar, '{_ID_FORBIDDEN}') then '{c.name}: control or invisible "
            f"character ' || printf('U+%04X', unicode(regexp_extract({q}::varchar, '{_ID_FORBIDDEN}'))) "
            f"|| ' in an identifier' end")
    if c.type == "TIMESTAMP":
        problems.append(f'"_zp_{c.name}"')
    if c.type != "VARCHAR":
        quote = "''"
        zone_ok = f' and "_zp_{c.name}" is null' if c.type == "TIMESTAMP" else ""
        problems.append(
            f"case when {val} is not null and {typed} is null{zone_ok} then "
            f"'{c.name}: cannot read {quote}' || left({val}, 40) || '{quote} as {c.type}' end")
    finite = ""
    if c.type == "DOUBLE":
        # inf and NaN read as numbers but are no measurement (and NaN compares greater than everything).
        problems.append(f"case when isnan({typed}) or isinf({typed}) then '{c.name}: ' || {typed}::varchar "
                        "|| ' is not a finite number' end")
        finite = f" and isfinite({typed})"
    if c.check:
        problems.append(f"case when {typed} is not null{finite} and not ({_sub(c.check, typed)}) "
                        f"then '{c.check_message}' end")
    if c.type == "TIMESTAMP":
        # An event cannot happen after it was exported: a future time is a clock or format error
        # (and would stretch every daily series and forecast to that date). 'epoch', infinities and
        # times before 1970 are placeholders, not events.
        shown = f"left(cast({typed} as varchar), 16)"
        problems.append(
            f"case when isinf({typed}) or {typed} < timestamp '1970-01-02' "
            f"then '{c.name}: ' || {shown} || ' is not a plausible event time' "
            f"when {typed} > timezone('{timezone}', now()) + interval {int(future_hours)} hour "
            f"then '{c.name}: ' || {shown} || ' is in the future "
            f"(more than {int(future_hours)} h after loading)' end")
    if c.type == "DATE":
        problems.append(f"case when isinf({typed}) or {typed} < date '1970-01-02' "
                        f"then '{c.name}: ' || {typed}::varchar || ' is not a plausible date' end")
    return problems


def _row_check_sql(check: RowCheck, spec: SourceSpec) -> str:
    """A rule between fields, tested only when all of them have a value; the reason shows them."""
    by_name = {c.name: c for c in spec.columns}
    typed = {name: _typed_name(by_name[name]) for name in check.columns}
    present = " and ".join(f"{t} is not null" for t in typed.values())
    shown = " || ', ' || ".join(f"'{name} ' || left({t}::varchar, 19)" for name, t in typed.items())
    return (f"case when {present} and not ({check.predicate.format(**typed)}) "
            f"then '{check.message} (' || {shown} || ')' end")


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
        modified = f.mtime_ns // 1000 if f.mtime_ns is not None else None
        base = base.append_column("_source_file", pa.array([f.rel] * n, pa.string()))
        base = base.append_column("_line", pa.array(f.lines, pa.int64()))
        base = base.append_column("_file_sha256", pa.array([f.sha256] * n, pa.string()))
        base = base.append_column("_file_modified_at", pa.array([modified] * n, pa.timestamp("us")))
        tables.append(base)
    if not tables:
        return pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # Parquet files with clashing types: compare as text
        def as_text(t: pa.Table) -> pa.Table:
            return t.cast(pa.schema([(n, pa.timestamp("us") if n == "_file_modified_at" else pa.string())
                                     for n in t.column_names]))
        return pa.concat_tables([as_text(t) for t in tables])


def _checked_sql(spec: SourceSpec, reasons: list[str], timezone: str, abbreviations: Mapping[str, str]) -> str:
    """The query that types the staged rows (``_stage_arrow``) and gives each its ``_reason`` ('' = good).

    Zoned times are read through CTEs before ``typed`` (see :func:`_zone_columns_sql`), so each
    zoned value is split once, its parts read once and its offset once; the helper columns are
    dropped again at the end.
    """
    zoned = [c for c in spec.columns if c.type == "TIMESTAMP"]
    ctes, previous = [], "_stage_arrow"
    for level, per_column in enumerate(zip(*(_zone_columns_sql(c, abbreviations) for c in zoned))):
        items = ", ".join(item for items in per_column for item in items)
        ctes.append(f"zone_parts_{level} as (select *, {items} from {previous})")
        previous = f"zone_parts_{level}"
    typed = [f"{typed_sql(c, timezone)} as {_typed_name(c)}" for c in spec.columns]
    typed += [f'{_zone_problem_sql(c)} as "_zp_{c.name}"' for c in zoned]
    ctes.append(f"typed as (select *, {', '.join(typed)} from {previous})")
    helpers = [_zone_col(part, c) for c in zoned for part in _ZONE_HELPERS]
    exclude = f" exclude ({', '.join(helpers)})" if helpers else ""
    return f"with {', '.join(ctes)} select *{exclude}, concat_ws('; ', {', '.join(reasons)}) as _reason from typed"


def load_batch(conn: duckdb.DuckDBPyConnection, spec: SourceSpec, files: list[ParsedFile],
               replaced: set[str], max_chars: int, timezone: str = "UTC",
               future_hours: int = 24, zone_abbreviations: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Validate and load parsed files in one transaction; returns (loaded, quarantined)."""
    stage = _stage_table(spec, files)
    identifiers = set(spec.identifier_columns)
    reasons = [p for c in spec.columns
               for p in _problem_sql(c, max_chars, timezone, future_hours, c.name in identifiers)]
    reasons += [_row_check_sql(check, spec) for check in spec.row_checks]
    abbreviations = zone_abbreviations or {}
    if stage.num_rows and any(c.type == "TIMESTAMP" for c in spec.columns):
        _create_zone_macro(conn)
    conn.execute("begin transaction")
    try:
        for rel in replaced:
            conn.execute(f"delete from raw.{spec.name} where _source_file = ?", [rel])
            conn.execute("delete from raw.quarantine where source = ? and source_file = ?", [spec.name, rel])
            conn.execute("delete from raw._load_manifest where source = ? and source_file = ?", [spec.name, rel])
        loaded = quarantined = 0
        if stage.num_rows:
            conn.register("_stage_arrow", stage)
            checked = _checked_sql(spec, reasons, timezone, abbreviations)
            conn.execute(f"create or replace temp table _checked as {checked}")
            conn.unregister("_stage_arrow")
            casts = ", ".join(_typed_name(c) for c in spec.columns)
            names = ", ".join(f'"{c.name}"' for c in spec.columns)
            conn.execute(f"""
                insert into raw.{spec.name} ({names}, _source_file, _line, _file_sha256, _loaded_at, _file_modified_at)
                select {casts}, _source_file, _line, _file_sha256, now()::timestamp, _file_modified_at
                from _checked where _reason = ''""")
            record = "to_json(struct_pack(" + ", ".join(f'"{c.name}" := "{c.name}"' for c in spec.columns) + "))"
            conn.execute(f"""
                insert into raw.quarantine ({_QUARANTINE_COLUMNS})
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
                f"insert into raw.quarantine ({_QUARANTINE_COLUMNS}) "
                "values (?, ?, ?, ?, ?, ?, now()::timestamp)", rejects)
        manifest = []
        for f in files:
            ok, bad = per_file.get(f.rel, (0, 0))
            bad += len(f.rejects)
            loaded += ok
            quarantined += bad
            status = "loaded" if bad == 0 else ("quarantined" if ok == 0 and f.rows_in else "partial")
            if f.rows_in == 0:
                status = "empty"
            text = f.physical_lines is not None
            manifest.append((spec.name, f.rel, f.sha256, f.size, f.rows_in, ok, bad, status, f.note or None,
                             f.mtime_ns, f.physical_lines, f.header_lines if text else None,
                             f.blank_lines if text else None, f.continuation_lines if text else None))
        conn.executemany(
            f"insert into raw._load_manifest ({_MANIFEST_COLUMNS}) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::timestamp, ?, ?, ?, ?, ?)", manifest)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    return loaded, quarantined


def _record_not_read(conn: duckdb.DuckDBPyConnection, source: str, gone: list[str],
                     entries: list[LandingEntry]) -> None:
    """Replace the ``not_read`` bookkeeping of some landing paths, in one transaction.

    ``gone``: paths whose earlier record no longer holds (the entry vanished or is now a
    readable file). ``entries``: entries not read, each one manifest row (1 in, 1 quarantined)
    and one quarantine row with the reason; nothing of their content is read or stored.
    """
    if not gone and not entries:
        return
    conn.execute("begin transaction")
    try:
        stale = [[source, rel] for rel in gone + [e.rel for e in entries]]
        conn.executemany("delete from raw._load_manifest where source = ? and source_file = ? "
                         "and status = 'not_read'", stale)
        conn.executemany(f"delete from raw.quarantine where source = ? and source_file = ? "
                         f"and file_sha256 = {_literal(NOT_READ)}", stale)
        if entries:
            conn.executemany(
                f"insert into raw.quarantine ({_QUARANTINE_COLUMNS}) "
                "values (?, ?, null, ?, null, ?, now()::timestamp)",
                [(source, e.rel, e.problem, NOT_READ) for e in entries])
            conn.executemany(
                f"insert into raw._load_manifest ({_MANIFEST_COLUMNS}) "
                "values (?, ?, ?, ?, 1, 0, 1, 'not_read', ?, now()::timestamp, ?, null, null, null, null)",
                [(source, e.rel, NOT_READ, e.size, e.problem, e.mtime_ns) for e in entries])
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


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
                timezone: str = "UTC", future_hours: int = 24,
                zone_abbreviations: Mapping[str, str] | None = None) -> LoadReport:
    """Load every new or changed landing file of one source. Safe to call any number of times.

    ``wants_day`` restricts the load to files of some days (a Dagster partition range); files
    without a day in their name are always considered. ``zone_abbreviations`` (default: the
    settings' SI_TZ_ABBREVIATIONS for this source) says which zone an abbreviation means.
    """
    started = time.perf_counter()
    if zone_abbreviations is None:
        from service_insight.settings import get_settings

        zone_abbreviations = get_settings().zone_abbreviations(spec.name)
    ensure_schema(conn, (spec,))
    report = LoadReport(spec.name)
    rows = conn.execute("select source_file, file_sha256, size_bytes, file_mtime_ns, status, note "
                        "from raw._load_manifest where source = ?", [spec.name]).fetchall()
    read_before = [r for r in rows if r[4] != "not_read"]
    known = {rel: sha for rel, sha, *_ in read_before}
    stat_of = {rel: (size, mtime) for rel, _, size, mtime, *_ in read_before if mtime is not None}
    not_read_before = {rel: note for rel, _, _, _, status, note in rows if status == "not_read"}
    stamp: list[tuple[int, str, str]] = []  # (mtime, rel, sha) of known files read again with unchanged content
    # Content counts as "already loaded" only if it was read as this source's format: a file
    # once rejected as .txt and renamed to .csv must be read again.
    known_shas = {sha for rel, sha in known.items() if Path(rel).suffix.lower() in spec.extensions}
    files, strangers, unread = landing_files(spec, landing_dir)
    # An earlier "not read" record stands only while its entry is still there and still unreadable
    # (checked over the whole folder, whatever days this run loads).
    still_unread = {e.rel for e in unread}
    gone = [rel for rel in not_read_before if rel not in still_unread]
    if wants_day is not None:
        files = [e for e in files if wants_day(file_day(e.path))]
        strangers = [e for e in strangers if wants_day(file_day(e.path))]
        unread = [e for e in unread if wants_day(file_day(e.path))]
    report.files_seen = len(files) + len(strangers) + len(unread)
    fresh = [e for e in unread if not_read_before.get(e.rel) != e.problem]
    report.files_skipped += len(unread) - len(fresh)
    _record_not_read(conn, spec.name, gone, fresh)
    late: list[LandingEntry] = []  # entries that turned out unreadable when opened
    batch: list[ParsedFile] = []
    replaced: set[str] = set()
    rows_in_batch = 0

    def flush() -> None:
        nonlocal batch, replaced, rows_in_batch
        if batch:
            ok, bad = load_batch(conn, spec, batch, replaced, max_chars, timezone, future_hours, zone_abbreviations)
            report.rows_loaded += ok
            report.rows_quarantined += bad
            report.rows_in += sum(f.rows_in for f in batch)
            report.files_loaded += len(batch)
        batch, replaced, rows_in_batch = [], set(), 0

    stranger_rels = {e.rel for e in strangers}
    for entry in files + strangers:
        rel = entry.rel
        if stat_of.get(rel) == (entry.size, entry.mtime_ns):
            report.files_skipped += 1  # untouched since it was loaded
            continue
        try:
            digest = sha256_of(entry.path, entry.identity)
            if known.get(rel) == digest or (rel not in known and digest in known_shas):
                report.files_skipped += 1  # same content already loaded, under this or another name
                if known.get(rel) == digest:
                    stamp.append((entry.mtime_ns, rel, digest))
                continue
            if rel in stranger_rels:
                parsed = ParsedFile(path=entry.path, rel=rel, sha256=digest, size=entry.size or 0)
                parsed.rejects.append((None, f"unsupported file type '{entry.path.suffix}' for source {spec.name} "
                                             f"(expected {', '.join(spec.extensions)})", ""))
            else:
                parsed = parse_file(spec, entry.path, landing_dir, entry.identity)
        except NotReadable as exc:
            late.append(LandingEntry(entry.path, rel, entry.size, entry.mtime_ns, str(exc)))
            continue
        if rel in known:
            replaced.add(rel)
            known_shas.discard(known[rel])  # its old content is gone; a copy of it elsewhere is new again
            report.files_replaced += 1
        parsed.mtime_ns = entry.mtime_ns
        batch.append(parsed)
        if rel not in stranger_rels:
            known_shas.add(digest)
        rows_in_batch += parsed.rows_in
        if len(batch) >= batch_files or rows_in_batch >= batch_rows:
            flush()
    flush()
    fresh += late
    _record_not_read(conn, spec.name, [], late)
    report.files_not_read = len(fresh)
    report.rows_in += len(fresh)
    report.rows_quarantined += len(fresh)
    if stamp:  # remember the stat of files whose content was checked, so the next run need not hash them
        conn.executemany("update raw._load_manifest set file_mtime_ns = ? where source = ? and source_file = ? "
                         "and file_sha256 = ?", [(m, spec.name, rel, sha) for m, rel, sha in stamp])
    refresh_duplicate_keys(conn)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def quarantine_unrouted(conn: duckdb.DuckDBPyConnection, landing_dir: Path, sources: tuple[SourceSpec, ...] = SOURCES
                        ) -> int:
    """Report files no source will read (a misspelt folder, a file at the top level).

    Each such file gets one quarantine row and a manifest row (source ``_unrouted``), once per
    content, so it shows on the data-quality page instead of lying unseen in the landing folder.
    Links, devices and hidden files outside the source folders are reported the same way, with
    why they are not read, and are never opened; such a record is cleared once its entry is gone
    or has become a readable file. Returns how many entries were newly recorded.
    """
    ensure_schema(conn, ())
    if not landing_dir.is_dir():
        return 0
    names = frozenset(s.name for s in sources)
    rows = conn.execute("select source_file, file_sha256, status, note from raw._load_manifest "
                        "where source = '_unrouted'").fetchall()
    known = {(rel, sha) for rel, sha, status, _ in rows if status != "not_read"}
    not_read_before = {rel: note for rel, _, status, note in rows if status == "not_read"}
    unread: list[LandingEntry] = []
    found: list[tuple[str, str, int | None, str, int | None]] = []  # rel, sha, size, reason, mtime
    for entry in scan_landing(landing_dir, landing_dir, skip=names):
        rel = Path(entry.rel)
        problem = entry.problem
        if problem is None:
            try:
                digest = sha256_of(entry.path, entry.identity)
            except NotReadable as exc:
                problem = str(exc)
        if problem is not None:
            unread.append(LandingEntry(entry.path, entry.rel, entry.size, entry.mtime_ns, problem, entry.identity))
            continue
        if (str(rel), digest) in known:
            continue
        where = f"folder '{rel.parts[0]}'" if len(rel.parts) > 1 else "the top of the landing folder"
        reason = f"{where} is not a known source; move the file into one of: {', '.join(sorted(names))}"
        found.append((str(rel), digest, entry.size, reason, entry.mtime_ns))
    # As in load_source: a "not read" record stands only while its entry is there and unreadable
    # for the same reason; one that vanished or became a readable file is cleared.
    still_unread = {e.rel for e in unread}
    gone = [rel for rel in not_read_before if rel not in still_unread]
    fresh = [e for e in unread if not_read_before.get(e.rel) != e.problem]
    _record_not_read(conn, "_unrouted", gone, fresh)
    if found:
        conn.execute("begin transaction")
        try:
            conn.executemany(
                f"insert into raw.quarantine ({_QUARANTINE_COLUMNS}) "
                "values ('_unrouted', ?, null, ?, null, ?, now()::timestamp)",
                [(rel, reason, digest) for rel, digest, _, reason, _ in found])
            conn.executemany(
                f"insert into raw._load_manifest ({_MANIFEST_COLUMNS}) values ('_unrouted', ?, ?, ?, 1, 0, 1, "
                "'quarantined', ?, now()::timestamp, ?, null, null, null, null)", found)
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
    return len(fresh) + len(found)
