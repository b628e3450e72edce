"""Importer for any CSV or JSON Lines export, driven by a small TOML mapping instead of code.

Why: every helpdesk, CRM and telephony system exports its own columns. A team whose system has no
importer here writes which of its columns is which field of the landing contract
(``warehouse/sources.py``), the constants for what the export lacks, and how its times are
written; this module does the rest with the same guarantees as the other importers (landing files
only, rows read = rows written + rows rejected with a reason, importing again writes nothing new).

A mapping (see README "Bring your own data")::

    time_format = "%d/%m/%Y %H:%M"   # strptime format of the time columns (omit: ISO 8601 and the
                                     # other forms the loader reads itself)
    timezone = "Europe/Berlin"       # zone of times written without one (omit: such times stay
                                     # zone-less and the loader reads them in SI_TIMEZONE)

    [[output]]                       # one per landing source the export feeds
    source = "conversations"
    [output.columns]                 # contract field = the export's column
    conversation_id = "Ticket ID"
    started_at = "Created"
    customer_id = "Requester"
    queue_id = "Group"
    agent_id = "Assignee"
    [output.defaults]                # contract field = a constant, for what the export lacks
    channel = "email"
    [output.values.channel]          # the export's words for a field's values, where they differ
    mail = "email"
    web = "chat"

A field neither mapped nor defaulted stays empty; a required one that ends up empty rejects the row
for that output, with the field and the column named in the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tomllib
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from warehouse.importers.common import ImportFailed, write_if_changed
from warehouse.sources import SOURCES, SourceSpec

SPECS = {spec.name: spec for spec in SOURCES}


@dataclass(frozen=True)
class Output:
    spec: SourceSpec
    columns: dict[str, str]  # contract field -> input column
    defaults: dict[str, str]  # contract field -> constant
    values: dict[str, dict[str, str]]  # contract field -> {export's value -> contract value}


@dataclass(frozen=True)
class Mapping:
    name: str
    outputs: tuple[Output, ...]
    time_format: str | None
    timezone: str | None
    digest: str  # of the mapping file: another mapping of the same export writes other files


@dataclass
class MappedReport:
    rows_read: int = 0
    written: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    files_written: int = 0
    files_unchanged: int = 0

    def reconciles(self, outputs: int) -> bool:
        """Each row, for each output, was written or rejected with a reason."""
        return self.rows_read * outputs == sum(self.written.values()) + sum(self.rejected.values())

    def as_dict(self, outputs: int) -> dict:
        accounting = (f"{self.rows_read:,} rows read, each written or rejected for each of the mapping's "
                      f"{outputs} output(s)")
        return {"format": "csv", "accounting": accounting, "rows_read": self.rows_read, "written": dict(self.written),
                "rejected": dict(self.rejected), "files_written": self.files_written,
                "files_unchanged": self.files_unchanged, "reconciles": self.reconciles(outputs)}


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping; every mistake is named before any row is read."""
    try:
        raw_bytes = path.read_bytes()
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except FileNotFoundError as exc:
        raise ImportFailed(f"mapping {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ImportFailed(f"mapping {path} cannot be read as TOML: {exc}") from exc
    unknown = set(raw) - {"time_format", "timezone", "output"}
    if unknown:
        raise ImportFailed(f"mapping {path}: unknown key(s) {', '.join(sorted(unknown))} "
                           "(expected time_format, timezone and [[output]] tables)")
    zone = raw.get("timezone")
    if zone is not None:
        try:
            zoneinfo.ZoneInfo(str(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ImportFailed(f"mapping {path}: timezone {zone!r} is not an IANA time zone name") from exc
    outputs = []
    for i, out in enumerate(raw.get("output") or [], start=1):
        source = out.get("source")
        if source not in SPECS:
            raise ImportFailed(f"mapping {path}, output {i}: source {source!r} is not a landing source "
                               f"({', '.join(SPECS)})")
        spec = SPECS[source]
        if spec.format not in ("csv", "jsonl"):
            raise ImportFailed(f"mapping {path}, output {i}: {source} lands as typed Parquet, which this importer "
                               "does not write; export it as Parquet with the contract's columns instead")
        columns, defaults = dict(out.get("columns") or {}), dict(out.get("defaults") or {})
        values = out.get("values") or {}
        if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
            raise ImportFailed(f"mapping {path}, output {i}: values must be tables, e.g. [output.values.channel]")
        unknown_keys = set(out) - {"source", "columns", "defaults", "values"}
        if unknown_keys:
            raise ImportFailed(f"mapping {path}, output {i}: unknown key(s) {', '.join(sorted(unknown_keys))} "
                               "(expected source, columns, defaults, values)")
        for name in [*columns, *defaults, *values]:
            if name not in spec.column_names:
                raise ImportFailed(f"mapping {path}, output {i}: {name!r} is not a field of {source} "
                                   f"({', '.join(spec.column_names)})")
        missing = [c.name for c in spec.columns if c.required and c.name not in columns and c.name not in defaults]
        if missing:
            raise ImportFailed(f"mapping {path}, output {i}: {source} needs {', '.join(missing)}: map a column "
                               "to each or give a default")
        outputs.append(Output(spec, {k: str(v) for k, v in columns.items()}, {k: str(v) for k, v in defaults.items()},
                              {k: {str(a): str(b) for a, b in v.items()} for k, v in values.items()}))
    if not outputs:
        raise ImportFailed(f"mapping {path} has no [[output]] table: name at least one landing source to feed")
    return Mapping(path.stem, tuple(outputs), raw.get("time_format"), zone,
                   hashlib.sha256(raw_bytes).hexdigest()[:8])


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    with handle:
        try:
            if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
                for line in handle:
                    if line.strip():
                        try:
                            record = json.loads(line)
                        except json.JSONDecodeError:
                            record = None
                        yield record if isinstance(record, dict) else {"__unreadable__": True}
            else:
                yield from csv.DictReader(handle)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportFailed(f"{path}: not readable as UTF-8 CSV: {exc}") from exc


def _time(value: str, mapping: Mapping) -> str:
    """A time as ISO 8601, with the mapping's zone when the export wrote none; ValueError when unreadable."""
    if mapping.time_format:
        parsed = datetime.strptime(value, mapping.time_format)
    else:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value  # another form the loader reads itself (epoch, e-mail dates...), or quarantines
    if parsed.tzinfo is None and mapping.timezone:
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(mapping.timezone))
    return parsed.isoformat(sep=" ")


def _record(row: dict[str, Any], out: Output, mapping: Mapping) -> tuple[dict[str, Any] | None, str | None]:
    record: dict[str, Any] = {}
    for column in out.spec.columns:
        source_column = out.columns.get(column.name)
        value = row.get(source_column) if source_column else out.defaults.get(column.name)
        if source_column and source_column in row and (value is None or str(value).strip() == "") \
                and column.name in out.defaults:
            value = out.defaults[column.name]  # an empty cell takes the default when there is one
        value = None if value is None or str(value).strip() == "" else str(value).strip()
        if value is not None and column.name in out.values:
            value = out.values[column.name].get(value, value)
        if value is not None and column.type == "TIMESTAMP":
            try:
                value = _time(value, mapping)
            except ValueError:
                where = f" (column {source_column!r})" if source_column else ""
                return None, f"{column.name}{where}: {value[:40]!r} does not match time format {mapping.time_format!r}"
        if value is None and column.required:
            where = f" (column {source_column!r})" if source_column else ""
            return None, f"{out.spec.name}.{column.name}{where} is empty"
        record[column.name] = value
    return record, None


def import_mapped(paths: list[Path], mapping_path: Path, landing_dir: Path) -> tuple[MappedReport, Mapping]:
    """Convert exports with a mapping into landing files of each output's source."""
    mapping = load_mapping(mapping_path)
    report = MappedReport()
    produced: dict[str, list[dict[str, Any]]] = {out.spec.name: [] for out in mapping.outputs}
    for path in paths:
        first = True
        for row in _rows(Path(path)):
            if first and "__unreadable__" not in row:
                wanted = {c for out in mapping.outputs for c in out.columns.values()}
                absent = sorted(wanted - set(row))
                if absent and Path(path).suffix.lower() not in (".jsonl", ".json", ".ndjson"):
                    raise ImportFailed(f"{path}: the mapping names column(s) {', '.join(absent)}, which the file "
                                       f"does not have (its columns: {', '.join(row)})")
                first = False
            report.rows_read += 1
            for out in mapping.outputs:
                if "__unreadable__" in row:
                    report.rejected[f"{out.spec.name}: a line that is not a JSON object"] += 1
                    continue
                record, reason = _record(row, out, mapping)
                if reason:
                    report.rejected[reason] += 1
                else:
                    produced[out.spec.name].append(record)
                    report.written[out.spec.name] += 1
    for source, records in produced.items():
        if records:
            _write(landing_dir / source / f"mapped_{mapping.name}_{mapping.digest}_{_digest(records)}",
                   SPECS[source], records, report)
    return report, mapping


def _digest(records: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]


def _write(stem: Path, spec: SourceSpec, records: list[dict[str, Any]], report: MappedReport) -> None:
    """One landing file in the source's own format; the same bytes already there are left alone."""
    if spec.format == "jsonl":
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
        path = stem.with_suffix(".jsonl")
    elif spec.format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=spec.column_names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        data, path = out.getvalue().encode(), stem.with_suffix(".csv")
    else:  # load_mapping admits csv and jsonl sources only
        raise ImportFailed(f"{spec.name} lands as {spec.format}, which this importer does not write")
    if write_if_changed(path, data):
        report.files_written += 1
    else:
        report.files_unchanged += 1
