"""Jobs, the daily schedule and the sensor that reacts to new landing files."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import (
    AssetSelection, DefaultScheduleStatus, DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason,
    build_schedule_from_partitioned_job, define_asset_job, sensor,
)

from orchestration.partitions import DAILY, range_tags_for_files
from service_insight.settings import get_settings

full_build_job = define_asset_job(
    "full_build", selection=AssetSelection.all(), partitions_def=DAILY,
    description="Load landing files of the chosen days (and any reference snapshots), build every dbt "
                "model and test, publish a snapshot.",
)

# Every night at 02:00 local time: yesterday's partition (and any file dated later), then the
# full dbt build and a new snapshot.
daily_build_schedule = build_schedule_from_partitioned_job(
    full_build_job, name="daily_build", hour_of_day=2, minute_of_hour=0,
    default_status=DefaultScheduleStatus.STOPPED,
)


def new_landing_files(landing_dir: Path, since_ns: int) -> tuple[list[Path], int]:
    """Files changed after ``since_ns`` and the newest change time seen.

    The inode change time counts too, so files moved in with ``mv``, ``cp -p``, ``rsync -t`` or
    ``tar`` (which keep an old modification time) are still seen as new.
    """
    newest, fresh = since_ns, []
    if landing_dir.is_dir():
        for p in landing_dir.rglob("*"):
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                mtime = max(st.st_mtime_ns, st.st_ctime_ns)
                if mtime > since_ns:
                    fresh.append(p)
                    newest = max(newest, mtime)
    return sorted(fresh), newest


@sensor(job=full_build_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
        description="Starts a build over the days of files added to or changed in the landing folder.")
def landing_files_sensor(context: SensorEvaluationContext):
    since = int(json.loads(context.cursor)["mtime_ns"]) if context.cursor else 0
    fresh, newest = new_landing_files(get_settings().landing_dir, since)
    if not fresh:
        return SkipReason("no new landing files")
    context.update_cursor(json.dumps({"mtime_ns": newest}))
    return RunRequest(run_key=f"landing-{newest}", tags=range_tags_for_files(fresh))
