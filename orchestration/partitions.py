"""Daily partitions of the event sources (a landing file per day).

Why: a day can be re-loaded or backfilled on its own (from the UI, the sensor or the daily
schedule), while a full build covers every day in one run (single-run backfill policy), since
all writes go to one DuckDB file anyway. A file belongs to the day in its name; files dated
before the first partition load with the first one and files dated after the last with the
last, so no file is ever left out.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Callable, Iterable

from dagster import DailyPartitionsDefinition, PartitionKeyRange

from service_insight.settings import get_settings
from warehouse.ingest import file_day
from warehouse.sources import SOURCES

# The last partition is the last complete day in the contact centre's time zone; files dated
# later (today) load with it, see clamp_day().
DAILY = DailyPartitionsDefinition(start_date=get_settings().partition_start, timezone=get_settings().timezone)

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def full_range() -> PartitionKeyRange:
    keys = DAILY.get_partition_keys()
    return PartitionKeyRange(keys[0], keys[-1])


def range_tags(start: str | None = None, end: str | None = None) -> dict[str, str]:
    """Run tags that make one run cover a range of days (the whole history by default)."""
    everything = full_range()
    return {RANGE_START_TAG: start or everything.start, RANGE_END_TAG: end or everything.end}


def landing_range_tags(landing_dir: Path, warehouse_path: Path | None = None) -> dict[str, str]:
    """Range tags over the days of the event files a build has to load (see ``range_tags_for_files``).

    With ``warehouse_path``, files the loader has already loaded (same size and modification time
    in its manifest, the loader's own "not read again" rule) are left out: a rebuild of three years
    of history then covers the days that changed, not 1,095 days of bookkeeping per source. Without
    a readable manifest (no warehouse yet, a writer holding it) every file counts.
    """
    loaded = _loaded_files(warehouse_path) if warehouse_path is not None else None
    if loaded is None:
        return range_tags_for_files([p for p in landing_dir.rglob("*") if p.is_file()] if landing_dir.is_dir() else [])
    from warehouse.ingest import landing_files

    return range_tags_for_files([e.path for spec in SOURCES if spec.daily for e in landing_files(spec, landing_dir)[0]
                                 if loaded.get((spec.name, e.rel)) != (e.size, e.mtime_ns)])


def _loaded_files(warehouse_path: Path) -> dict[tuple[str, str], tuple[int, int]] | None:
    """(source, file) -> (size, mtime ns) of every file the loader read, or None when that cannot be known."""
    import duckdb

    if not Path(warehouse_path).is_file():
        return None
    try:
        with duckdb.connect(str(warehouse_path), read_only=True) as conn:
            rows = conn.execute("select source, source_file, size_bytes, file_mtime_ns from raw._load_manifest "
                                "where status <> 'not_read' and file_mtime_ns is not null").fetchall()
    except duckdb.Error:
        return None
    return {(source, rel): (size, mtime) for source, rel, size, mtime in rows}


def range_tags_for_files(files: Iterable[Path]) -> dict[str, str]:
    """Range tags from the first to the last day of the dated files of daily sources among ``files``.

    Only those files decide the range: an undated file, a reference snapshot or a label file loads
    with any range (see ``day_filter``), so with none of them dated the run covers the latest day
    alone. Why it matters: Dagster writes one event per partition of each daily source (about 8 ms
    each), so marking every day since SI_PARTITION_START for a review file written today cost
    about a minute per build and said nothing true about those days.
    """
    daily = {s.name for s in SOURCES if s.daily}
    everything = full_range()
    days = sorted({clamp_day(d, everything) for p in files if p.parent.name in daily for d in [file_day(p)]
                   if d is not None})
    if days:
        return range_tags(days[0], days[-1])
    return range_tags(everything.end, everything.end)


def clamp_day(day: date, everything: PartitionKeyRange | None = None) -> str:
    """The partition key a file of ``day`` loads with (``everything``: the full range, when the caller has it:
    listing the partitions costs about 10 ms, and a build asks once per landing file per source)."""
    everything = everything or full_range()
    key = day.isoformat()
    return min(max(key, everything.start), everything.end)


def day_filter(key_range: PartitionKeyRange) -> Callable[[date | None], bool]:
    """Which landing-file days a run over ``key_range`` loads."""
    everything = full_range()

    def wants(day: date | None) -> bool:
        if day is None:
            return True
        return key_range.start <= clamp_day(day, everything) <= key_range.end

    return wants
