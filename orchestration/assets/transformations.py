"""Every dbt model, seed and test as Dagster assets, with lineage from the raw tables.

Two dbt steps, not one per stretch of the graph: the models that read no model output
(``dbt_core_models``: staging, intermediate, the core marts, the model inputs) run before the
enrichment assets, and everything downstream of an ``ml`` source (``dbt_model_readers``) runs
once after them. Why: left as one multi-asset, Dagster cut dbt into as many steps as the graph
alternates between dbt and the models (five), and each step pays dbt's start, the subset
selection and a smaller thread pool: about 80 s of a no-op rebuild of the 2,000-conversation
sample went to dbt in five steps, against (measured after the split) the figure in the README.
"""
import shutil

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.assets.ingestion import WRITER_POOL
from orchestration.dbt_project import dbt_project, invocation_target

MODEL_READERS = "source:ml+"  # dbt selection: every node downstream of a table the models write


def _build(context: AssetExecutionContext, dbt: DbtCliResource):
    """``dbt build``: models, seeds and their tests, in dependency order."""
    invocation = dbt.cli(["build"], context=context, target_path=invocation_target(context.op.name, context.run_id))
    yield from invocation.stream()
    # Each invocation writes its own target folder (compiled SQL, logs, run results); kept, they pile up
    # at every build. A failed one stays for inspection.
    shutil.rmtree(invocation.target_path, ignore_errors=True)


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, pool=WRITER_POOL, exclude=MODEL_READERS,
            name="dbt_core_models")
def dbt_core_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """Seeds, staging, intermediate models and the marts that read no model output."""
    yield from _build(context, dbt)


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, pool=WRITER_POOL, select=MODEL_READERS,
            name="dbt_model_readers")
def dbt_model_readers(context: AssetExecutionContext, dbt: DbtCliResource):
    """Every model downstream of the enrichment tables: intents, emotion, quality, tickets, graph, answers."""
    yield from _build(context, dbt)


DBT_ASSETS = [dbt_core_models, dbt_model_readers]
