"""Jobs, the daily schedule and the sensor that reacts to new landing files."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import (
    AssetSelection, DefaultScheduleStatus, DefaultSensorStatus, RunRequest, ScheduleDefinition,
    SensorEvaluationContext, SkipReason, define_asset_job, sensor,
)

from service_insight.settings import get_settings

full_build_job = define_asset_job(
    "full_build", selection=AssetSelection.all(),
    description="Load new landing files, build every dbt model and test, publish a snapshot.",
)

daily_build_schedule = ScheduleDefinition(
    name="daily_build", job=full_build_job, cron_schedule="0 2 * * *",
    execution_timezone=get_settings().timezone, default_status=DefaultScheduleStatus.STOPPED,
)


def landing_fingerprint(landing_dir: Path) -> tuple[int, int]:
    """(newest modification time in ns, number of files) over the landing folder."""
    newest, count = 0, 0
    if landing_dir.is_dir():
        for p in landing_dir.rglob("*"):
            if p.is_file() and not p.name.startswith("."):
                count += 1
                newest = max(newest, p.stat().st_mtime_ns)
    return newest, count


@sensor(job=full_build_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
        description="Starts a build when files are added to or changed in the landing folder.")
def landing_files_sensor(context: SensorEvaluationContext):
    newest, count = landing_fingerprint(get_settings().landing_dir)
    previous = json.loads(context.cursor) if context.cursor else None
    if previous == [newest, count]:
        return SkipReason("no new landing files")
    context.update_cursor(json.dumps([newest, count]))
    if count == 0:
        return SkipReason("landing folder is empty")
    return RunRequest(run_key=f"landing-{newest}-{count}")
