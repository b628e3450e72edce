"""Every dbt model, seed and test as Dagster assets, with lineage from the raw tables."""
import shutil

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.assets.ingestion import WRITER_POOL
from orchestration.dbt_project import dbt_project, invocation_target


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, pool=WRITER_POOL)
def service_insight_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """``dbt build``: models, seeds and their tests, in dependency order."""
    invocation = dbt.cli(["build"], context=context, target_path=invocation_target(context.op.name, context.run_id))
    yield from invocation.stream()
    # Each invocation writes its own target folder (compiled SQL, logs, run results); kept, they pile up
    # at every build. A failed one stays for inspection.
    shutil.rmtree(invocation.target_path, ignore_errors=True)
