"""Publishing the marts as a read-only snapshot for dashboards (see warehouse/snapshot.py)."""



from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from orchestration.assets.ingestion import WRITER_POOL
from orchestration.assets.transformations import DBT_ASSETS
from orchestration.resources import WarehouseResource
from warehouse.snapshot import publish

# Run tag naming the asset groups a run leaves out on purpose (comma-separated): the snapshot says so.
PENDING_TAG = "si/pending"


@asset(
    group_name="publishing",
    deps=DBT_ASSETS,
    pool=WRITER_POOL,
    kinds={"duckdb"},
    description="Read-only copy of the marts that Streamlit reads; swapped in atomically after a good build.",
)
def warehouse_snapshot(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    s = warehouse.settings
    pending = tuple(g for g in context.run.tags.get(PENDING_TAG, "").split(",") if g)
    ref = publish(s.warehouse_path, s.snapshot_dir, s.snapshots_to_keep, context.run_id, pending)
    context.log.info(f"published snapshot {ref.version} ({len(ref.tables)} tables"
                     f"{'; still to come: ' + ', '.join(pending) if pending else ''})")
    return MaterializeResult(metadata={
        "version": ref.version,
        "path": MetadataValue.path(str(ref.path)),
        "tables": MetadataValue.json(ref.tables),
        "size_mb": round(ref.path.stat().st_size / 1e6, 2),
        "pending": ", ".join(pending) or "nothing",
    })
