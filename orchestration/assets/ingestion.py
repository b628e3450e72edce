"""Ingestion assets: one per landing source, each loading new files into ``raw.<source>``.

Re-running is safe: files are keyed by content checksum, so only new or changed files load.
"""



from dagster import (
    AssetExecutionContext, AssetKey, AssetsDefinition, BackfillPolicy, MaterializeResult, MetadataValue, asset,
)

from orchestration.partitions import DAILY, day_filter
from orchestration.resources import WarehouseResource
from warehouse.audit_log import load_audit_log
from warehouse.ingest import load_source, quarantine_unrouted
from warehouse.sources import SOURCES, SourceSpec

WRITER_POOL = "duckdb_writer"


def build_raw_asset(spec: SourceSpec) -> AssetsDefinition:
    @asset(
        key=AssetKey(["raw", spec.name]),
        group_name="ingestion",
        description=f"{spec.description} Loaded from landing/{spec.name}/ ({spec.format}); "
                    "rejected records go to raw.quarantine.",
        pool=WRITER_POOL,
        kinds={"duckdb", spec.format},
        partitions_def=DAILY if spec.daily else None,
        backfill_policy=BackfillPolicy.single_run() if spec.daily else None,
    )
    def _raw(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        wants = day_filter(context.partition_key_range) if spec.daily else None
        s = warehouse.settings
        with warehouse.connect() as conn:
            report = load_source(conn, spec, s.landing_dir, s.max_field_chars, s.load_batch_files, wants_day=wants,
                                 timezone=s.timezone, future_hours=s.max_future_hours)
            total = conn.execute(f"select count(*) from raw.{spec.name}").fetchall()[0][0]
            quarantined_total = conn.execute(
                "select count(*) from raw.quarantine where source = ?", [spec.name]).fetchall()[0][0]
        context.log.info(
            f"{spec.name}: {report.files_loaded} new file(s), {report.files_skipped} unchanged; "
            f"{report.rows_in} rows in = {report.rows_loaded} loaded + {report.rows_quarantined} quarantined")
        if report.rows_quarantined:
            context.log.warning(f"{spec.name}: {report.rows_quarantined} row(s) quarantined, see raw.quarantine")
        return MaterializeResult(metadata={
            **{k: v for k, v in report.as_metadata().items() if k != "source"},
            "rows_total": total,
            "quarantined_total": quarantined_total,
            "counts_reconcile": MetadataValue.bool(report.rows_in == report.rows_loaded + report.rows_quarantined),
        })

    return _raw


def _raw_table_asset(name: str, description: str):
    """The decorator of an ingestion step that is no landing source but still writes ``raw.<name>``."""
    return asset(key=AssetKey(["raw", name]), group_name="ingestion", description=description, pool=WRITER_POOL,
                 kinds={"duckdb"})


@_raw_table_asset(
    "unrouted_files",
    "Files in the landing folder that no source reads (unknown folder, top level): "
    "reported in raw.quarantine so they are seen, never silently ignored.",
)
def unrouted_files(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.connect() as conn:
        found = quarantine_unrouted(conn, warehouse.settings.landing_dir)
    if found:
        context.log.warning(f"{found} landing file(s) are in no known source folder; see the data-quality page")
    return MaterializeResult(metadata={"new_unrouted_files": found})


@_raw_table_asset(
    "audit_events",
    "The dashboards' audit log (sign-ins, failures, refusals, sign-outs, exports, role changes) copied "
    "line by line into raw.audit_events; lines edited after they were copied are reported.",
)
def audit_events(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    path = warehouse.settings.audit_log
    with warehouse.connect() as conn:
        report = load_audit_log(conn, path)
    context.log.info(f"audit log {path}: {report.lines_in_file} line(s), {report.lines_added} new")
    if report.lines_changed or report.lines_missing:
        context.log.warning(
            f"audit log {path} was edited after it was copied: {len(report.lines_changed)} line(s) changed "
            f"(first: {list(report.lines_changed[:5])}), {report.lines_missing} line(s) gone; "
            "the warehouse keeps the earlier copy")
    return MaterializeResult(metadata={
        "lines_in_file": report.lines_in_file,
        "lines_added": report.lines_added,
        "lines_changed": len(report.lines_changed),
        "lines_missing": report.lines_missing,
    })


raw_assets = [build_raw_asset(spec) for spec in SOURCES] + [unrouted_files, audit_events]
