"""Enrichment assets: models trained on the warehouse's own labels, predictions for new records only.

The chain: intent, emotion and quality-act classifiers trained on reviewers' agreed labels ->
readings of new turns and conversations (both assets generated per row of the task table,
``ml/tasks.py``, reading the dbt views of ``dbt/models/intermediate/ml/``) -> embeddings for the knowledge base, answer checks,
zero/few-shot intent and intent discovery. Each asset writes ``ml.<table>`` (its key) and is safe
to re-run.

Each classifier is the candidate of ``ml.text_models`` that cross-validates best on the task's
own agreed labels (a frozen sentence encoder + logistic regression, character TF-IDF + a linear
SVM, their ensemble, and, with a time budget, a fine-tuned checkpoint: ``SI_<TASK>_BASE`` names
one); every candidate's score is recorded in ``ml.ml_model_runs.candidates``.
"""


from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, asset, multi_asset

from ml.registry import record_training_status
from ml.tasks import EMOTION, TEXT_TASKS, TextTask, score_task, train_task
from ml.text_models import SelectionConfig
from orchestration.assets.ingestion import WRITER_POOL
from orchestration.resources import WarehouseResource

AGREED_INTENTS = AssetKey(["intermediate", "int_annotations__agreed_intents"])
FIRST_MESSAGES = AssetKey(["intermediate", "int_ml__first_customer_messages"])
VOICE = AssetKey(["staging", "stg_raw__voice_features"])
KB_ARTICLES = AssetKey(["staging", "stg_raw__kb_articles"])


def _metadata(facts: dict) -> dict:
    out = {}
    for k, v in facts.items():
        if v is None:
            continue
        out[k] = MetadataValue.int(v) if isinstance(v, int) and not isinstance(v, bool) else v
    return out


def _where_run(warehouse: WarehouseResource, facts: dict) -> dict:
    """The step's facts plus where its model calls ran (SI_EXECUTOR; on Ray, how many nodes served the last one)."""
    if warehouse.settings.executor != "ray":
        return {**facts, "executor": "local"}
    from ml.executor import last_ray_nodes

    return {**facts, "executor": "ray", "ray_nodes": len(last_ray_nodes)}


def _voice(task: TextTask) -> list[AssetKey]:
    return [VOICE] if task.name == EMOTION.name else []


def model_asset(task: TextTask):
    """ml/<task>_model: train (or keep) the task's model from its agreed labels (a row of ml.tasks)."""

    @asset(
        name=f"{task.name}_model",
        key_prefix=["ml"],
        deps=[AssetKey(["intermediate", task.training]), *_voice(task)],
        group_name="enrichment",
        pool=WRITER_POOL,
        kinds={"scikitlearn"},
        description=f"{task.description} The best cross-validated candidate of ml/text_models.py, calibrated; "
                    "retrained only when the agreed labels change enough. Versions and candidates in "
                    "ml.ml_model_runs.",
    )
    def _train(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        base = warehouse.base_for(task.name) or None
        candidates = warehouse.settings.candidates()
        cfg = SelectionConfig(device=warehouse.settings.device, base=base,
                              min_examples=warehouse.settings.min_training_labels,
                              **({"candidates": candidates} if candidates else {}))
        status, facts = train_task(task, warehouse.connect, warehouse.settings.model_dir, cfg)
        (context.log.warning if status == "skipped" else context.log.info)(f"{task.name} model {status}: {facts}")
        with warehouse.connect() as conn:
            record_training_status(conn, task.name, status, facts)
        return MaterializeResult(metadata={"status": status, "base": base or "packaged encoders", **_metadata(facts)})

    return _train


def scoring_asset(task: TextTask):
    """ml/<output>: the current version's reading of every new or changed record of the task."""

    @asset(
        name=task.scoring_key,
        key_prefix=["ml"],
        deps=[AssetKey(["ml", f"{task.name}_model"]), AssetKey(["intermediate", task.inputs]), *_voice(task)],
        group_name="enrichment",
        pool=WRITER_POOL,
        kinds={"scikitlearn", "duckdb"},
        description=f"{task.label_column.capitalize()} of every record in {task.inputs} per model version, with its "
                    "calibrated confidence; a re-run scores only records the current version has not read.",
    )
    def _score(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        facts = _where_run(warehouse, score_task(task, warehouse.connect, warehouse.settings.model_dir,
                                                 warehouse.settings.device))
        context.log.info(f"{task.scoring_key}: {facts}")
        return MaterializeResult(metadata=_metadata(facts))

    return _score


enrichment_assets = [make(task) for task in TEXT_TASKS for make in (model_asset, scoring_asset)]


def _ml_table_asset(name: str, deps: list[AssetKey], description: str):
    """The decorator of an enrichment step that writes the one DuckDB table ``ml.<name>``."""
    return asset(key=AssetKey(["ml", name]), deps=deps, group_name="enrichment", pool=WRITER_POOL, kinds={"duckdb"},
                 description=description)


@_ml_table_asset(
    "training_status",
    [AssetKey(["ml", f"{task.name}_model"]) for task in TEXT_TASKS] + [AssetKey(["ml", "translation_model"])],
    "What this build decided for every learnt model (trained, reused, skipped) and why, with the "
    "reviewed labels it had and needed; each model step writes its row, this step gathers them so "
    "the marts that read them run after every model step.",
)
def training_status(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.registry import ensure_tables

    with warehouse.connect() as conn:
        ensure_tables(conn)
        rows = conn.execute("select task, status, coalesce(reason, '') from ml.training_status order by 1").fetchall()
    summary = {task: f"{status}{': ' + reason if reason else ''}" for task, status, reason in rows}
    context.log.info(f"training status: {summary}")
    return MaterializeResult(metadata=summary)


enrichment_assets.append(training_status)


def _embedder(warehouse: WarehouseResource):
    from ml.embeddings import get_embedder

    return get_embedder(warehouse.settings.embedding_model, warehouse.settings.device, warehouse.settings.executor)


def _embedding_step(context: AssetExecutionContext, warehouse: WarehouseResource, step,
                    label: str) -> MaterializeResult:
    """Run one embedding step with the configured encoder; its facts go to the run log and the asset's metadata."""
    facts = _where_run(warehouse, step(warehouse.connect, _embedder(warehouse)))
    context.log.info(f"{label}: {facts}")
    return MaterializeResult(metadata=_metadata(facts))


@_ml_table_asset(
    "kb_passages", [KB_ARTICLES],
    "Every knowledge-base title and step embedded with the multilingual encoder (new or changed "
    "passages only): what the answer hub retrieves from.",
)
def kb_passages(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.retrieval import index_knowledge_base

    return _embedding_step(context, warehouse, index_knowledge_base, "knowledge base index")


@_ml_table_asset(
    "contact_embeddings", [FIRST_MESSAGES],
    "The customer's first message of every conversation, embedded (new or changed ones only).",
)
def contact_embeddings(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.retrieval import embed_new_contacts

    return _embedding_step(context, warehouse, embed_new_contacts, "contact embeddings")


@_ml_table_asset(
    "solution_checks", [AssetKey(["ml", "kb_passages"]), AssetKey(["ml", "turn_acts"])],
    "The knowledge-base intent each agent answer matches (nearest KB step); the 'correct information' "
    "quality check compares it with the contact's intent.",
)
def solution_checks(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.retrieval import check_new_solutions

    return _embedding_step(context, warehouse, check_new_solutions, "solution checks")


@multi_asset(
    specs=[
        AssetSpec(AssetKey(["ml", "intent_similarity"]), group_name="enrichment", kinds={"duckdb"},
                  deps=[AssetKey(["ml", "kb_passages"]), AssetKey(["ml", "contact_embeddings"]), AGREED_INTENTS],
                  description="Zero-shot (knowledge base only) and few-shot (plus reviewed examples) intent of every "
                              "contact by nearest prototype, with held-out accuracy: the path for a taxonomy with few "
                              "or no labels."),
        AssetSpec(AssetKey(["ml", "intent_prototypes"]), group_name="enrichment", kinds={"duckdb"},
                  deps=[AssetKey(["ml", "kb_passages"]), AssetKey(["ml", "contact_embeddings"]), AGREED_INTENTS],
                  description="The intent centroids of both paths (normalised mean embeddings) with their held-out "
                              "accuracy: the live answer view scores a new message against them."),
        AssetSpec(AssetKey(["ml", "intent_taxonomy"]), group_name="enrichment", kinds={"duckdb"},
                  description="The company's intent taxonomy file (SI_TAXONOMY) as read at this build: descriptions "
                              "and examples (zero-shot), team, priority and SLA per intent (routing)."),
    ],
    pool=WRITER_POOL,
)
def intent_similarity(context: AssetExecutionContext, warehouse: WarehouseResource):
    from ml.retrieval import score_intent_similarity, store_taxonomy

    taxonomy = _taxonomy(context, warehouse)
    stored = store_taxonomy(warehouse.connect, taxonomy)
    facts = score_intent_similarity(warehouse.connect, _embedder(warehouse), taxonomy)
    context.log.info(f"zero/few-shot intent: {facts}")
    yield MaterializeResult(asset_key=AssetKey(["ml", "intent_similarity"]), metadata=_metadata(facts))
    prototypes = {k: v for k, v in facts.items() if k.endswith("_prototypes")}
    yield MaterializeResult(asset_key=AssetKey(["ml", "intent_prototypes"]), metadata=_metadata(prototypes))
    yield MaterializeResult(asset_key=AssetKey(["ml", "intent_taxonomy"]), metadata=_metadata(
        {**stored, "file": str(taxonomy.path), "problems": "; ".join(taxonomy.errors[:20])}))


def _taxonomy(context: AssetExecutionContext, warehouse: WarehouseResource):
    """The taxonomy file, its problems logged as warnings (a bad entry is left out, never fatal)."""
    from ml.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(warehouse.settings.taxonomy_path)
    for problem in taxonomy.errors:
        context.log.warning(f"taxonomy: {problem}")
    return taxonomy


@multi_asset(
    specs=[
        AssetSpec(AssetKey(["ml", "intent_clusters"]), group_name="enrichment", kinds={"scikitlearn", "duckdb"},
                  deps=[AssetKey(["ml", "kb_passages"]), AssetKey(["ml", "contact_embeddings"]), AGREED_INTENTS],
                  description="Contacts clustered by topic, each cluster named by the words that set it apart; one "
                              "whose contacts are farther from every known intent than reviewed contacts are from "
                              "theirs is flagged as a candidate new intent."),
        AssetSpec(AssetKey(["ml", "contact_clusters"]), group_name="enrichment", kinds={"duckdb"},
                  deps=[AssetKey(["ml", "contact_embeddings"])],
                  description="The cluster of every contact (the discovered topic is the intent of record of last "
                              "resort)."),
    ],
    pool=WRITER_POOL,
)
def intent_clusters(context: AssetExecutionContext, warehouse: WarehouseResource):
    from ml.retrieval import discover_intents

    facts = discover_intents(warehouse.connect, _embedder(warehouse), taxonomy=_taxonomy(context, warehouse))
    context.log.info(f"intent discovery: {facts}")
    yield MaterializeResult(asset_key=AssetKey(["ml", "intent_clusters"]), metadata=_metadata(facts))
    yield MaterializeResult(asset_key=AssetKey(["ml", "contact_clusters"]),
                            metadata=_metadata({"contacts": facts.get("contacts")}))


enrichment_assets += [kb_passages, contact_embeddings, solution_checks, intent_similarity, intent_clusters]
