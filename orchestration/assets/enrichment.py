"""Enrichment assets: models trained on the warehouse's own labels, predictions for new records only.

The chain: intent, emotion and quality-act classifiers trained on reviewers' agreed labels ->
readings of new turns and conversations -> embeddings for the knowledge base, answer checks,
zero/few-shot intent and intent discovery. Each asset writes ``ml.<table>`` (its key) and is safe
to re-run.

Each classifier is the candidate of ``ml.text_models`` that cross-validates best on the task's
own agreed labels (a frozen sentence encoder + logistic regression, character TF-IDF + a linear
SVM, their ensemble, and, with a time budget, a fine-tuned checkpoint: ``SI_<TASK>_BASE`` names
one); every candidate's score is recorded in ``ml.ml_model_runs.candidates``.
"""

from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, asset, multi_asset

from ml.text_models import SelectionConfig
from ml.emotion import score_new_customer_turns, train_emotion_model
from ml.intent import score_new_conversations, train_if_labels_changed
from ml.turn_tasks import QUALITY_ACT, score_new_turns
from ml.turn_tasks import train_if_labels_changed as train_turn_task
from orchestration.assets.ingestion import WRITER_POOL
from orchestration.resources import WarehouseResource

STAGED_TURNS = AssetKey(["staging", "stg_raw__turns"])
AGREED_INTENTS = AssetKey(["intermediate", "int_annotations__agreed_intents"])
AGREED_TURN_LABELS = AssetKey(["intermediate", "int_turn_labels__agreed"])
VOICE = AssetKey(["staging", "stg_raw__voice_features"])
KB_ARTICLES = AssetKey(["staging", "stg_raw__kb_articles"])


def _metadata(facts: dict) -> dict:
    out = {}
    for k, v in facts.items():
        if v is None:
            continue
        out[k] = MetadataValue.int(v) if isinstance(v, int) and not isinstance(v, bool) else v
    return out


@asset(
    key=AssetKey(["ml", "intent_model"]),
    deps=[STAGED_TURNS, AGREED_INTENTS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"scikitlearn", "duckdb"},
    description="Intent classifier trained on the intents both annotators agree on (first customer message, "
                "PII-masked): the best cross-validated candidate, calibrated; retrained only when those labels "
                "change. Versions, candidates and metrics in ml.ml_model_runs.",
)
def intent_model(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    base = warehouse.base_for("intent") or None
    cfg = SelectionConfig(device=warehouse.device, base=base)
    status, facts = train_if_labels_changed(warehouse.connect, Path(warehouse.model_dir), cfg)
    context.log.info(f"intent model {status}: {facts}")
    return MaterializeResult(metadata={"status": status, "base": base or "packaged encoders", **_metadata(facts)})


@asset(
    key=AssetKey(["ml", "intent_predictions"]),
    deps=[AssetKey(["ml", "intent_model"]), STAGED_TURNS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"scikitlearn", "duckdb"},
    description="Intent, confidence and escalation flag per conversation and model version; a re-run scores "
                "only conversations the current version has not seen.",
)
def intent_predictions(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    facts = score_new_conversations(warehouse.connect, Path(warehouse.model_dir), warehouse.device)
    context.log.info(f"intent predictions: {facts}")
    return MaterializeResult(metadata=_metadata(facts))


@asset(
    key=AssetKey(["ml", "emotion_model"]),
    deps=[STAGED_TURNS, AGREED_TURN_LABELS, VOICE],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"scikitlearn"},
    description="Customer-turn emotion (the labels reviewers use) learnt from their agreed turn labels (best "
                "cross-validated candidate), with a multimodal head over the call's voice features kept only when it "
                "beats text alone on held-out phone turns.",
)
def emotion_model(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    base = warehouse.base_for("emotion") or None
    cfg = SelectionConfig(device=warehouse.device, base=base)
    status, facts = train_emotion_model(warehouse.connect, Path(warehouse.model_dir), cfg)
    context.log.info(f"emotion model {status}: {facts}")
    return MaterializeResult(metadata={"status": status, "base": base or "packaged encoders", **_metadata(facts)})


@asset(
    key=AssetKey(["ml", "turn_emotions"]),
    deps=[AssetKey(["ml", "emotion_model"]), STAGED_TURNS, VOICE],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"scikitlearn", "duckdb"},
    description="Emotion of every customer turn per model version (voice-fused on calls); new turns only.",
)
def turn_emotions(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    facts = score_new_customer_turns(warehouse.connect, Path(warehouse.model_dir), warehouse.device)
    context.log.info(f"turn emotions: {facts}")
    return MaterializeResult(metadata=_metadata(facts))


@asset(
    key=AssetKey(["ml", "quality_act_model"]),
    deps=[STAGED_TURNS, AGREED_TURN_LABELS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"scikitlearn"},
    description="What each agent turn does (greeting, identity check, disclosure, empathy, hold request/return, "
                "solution, ticket, forbidden language, confirmation, closing...), learnt from reviewers' agreed "
                "turn labels (best cross-validated candidate). The quality checks are rules over these readings.",
)
def quality_act_model(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    base = warehouse.base_for("quality_act") or None
    cfg = SelectionConfig(device=warehouse.device, base=base)
    status, facts = train_turn_task(warehouse.connect, Path(warehouse.model_dir), QUALITY_ACT, cfg)
    context.log.info(f"quality-act model {status}: {facts}")
    return MaterializeResult(metadata={"status": status, "base": base or "packaged encoders", **_metadata(facts)})


@asset(
    key=AssetKey(["ml", "turn_acts"]),
    deps=[AssetKey(["ml", "quality_act_model"]), STAGED_TURNS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"scikitlearn", "duckdb"},
    description="Act of every agent turn per model version; new turns only.",
)
def turn_acts(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    facts = score_new_turns(warehouse.connect, Path(warehouse.model_dir), QUALITY_ACT, warehouse.device)
    context.log.info(f"turn acts: {facts}")
    return MaterializeResult(metadata=_metadata(facts))


enrichment_assets = [intent_model, intent_predictions, emotion_model, turn_emotions,
                     quality_act_model, turn_acts]


def _embedder(warehouse: WarehouseResource):
    from ml.embeddings import get_embedder

    return get_embedder(warehouse.embedding_model, warehouse.device)


@asset(
    key=AssetKey(["ml", "kb_passages"]),
    deps=[KB_ARTICLES],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"duckdb"},
    description="Every knowledge-base title and step embedded with the multilingual encoder (new or changed "
                "passages only): what the answer hub retrieves from.",
)
def kb_passages(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.retrieval import index_knowledge_base

    facts = index_knowledge_base(warehouse.connect, _embedder(warehouse))
    context.log.info(f"knowledge base index: {facts}")
    return MaterializeResult(metadata=_metadata(facts))


@asset(
    key=AssetKey(["ml", "contact_embeddings"]),
    deps=[STAGED_TURNS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"duckdb"},
    description="The customer's first message of every conversation, embedded (new or changed ones only).",
)
def contact_embeddings(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.retrieval import embed_new_contacts

    facts = embed_new_contacts(warehouse.connect, _embedder(warehouse))
    context.log.info(f"contact embeddings: {facts}")
    return MaterializeResult(metadata=_metadata(facts))


@asset(
    key=AssetKey(["ml", "solution_checks"]),
    deps=[AssetKey(["ml", "kb_passages"]), AssetKey(["ml", "turn_acts"])],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"duckdb"},
    description="The knowledge-base intent each agent answer matches (nearest KB step); the 'correct information' "
                "quality check compares it with the contact's intent.",
)
def solution_checks(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.retrieval import check_new_solutions

    facts = check_new_solutions(warehouse.connect, _embedder(warehouse))
    context.log.info(f"solution checks: {facts}")
    return MaterializeResult(metadata=_metadata(facts))


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
    ],
    pool=WRITER_POOL,
)
def intent_similarity(context: AssetExecutionContext, warehouse: WarehouseResource):
    from ml.retrieval import score_intent_similarity

    facts = score_intent_similarity(warehouse.connect, _embedder(warehouse))
    context.log.info(f"zero/few-shot intent: {facts}")
    yield MaterializeResult(asset_key=AssetKey(["ml", "intent_similarity"]), metadata=_metadata(facts))
    prototypes = {k: v for k, v in facts.items() if k.endswith("_prototypes")}
    yield MaterializeResult(asset_key=AssetKey(["ml", "intent_prototypes"]), metadata=_metadata(prototypes))


@asset(
    key=AssetKey(["ml", "intent_clusters"]),
    deps=[AssetKey(["ml", "kb_passages"]), AssetKey(["ml", "contact_embeddings"]), AGREED_INTENTS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"scikitlearn", "duckdb"},
    description="Contacts clustered by meaning; a cluster whose centre is farther from every known intent than "
                "reviewed contacts are from theirs is flagged as a candidate new intent.",
)
def intent_clusters(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.retrieval import discover_intents

    facts = discover_intents(warehouse.connect, _embedder(warehouse))
    context.log.info(f"intent discovery: {facts}")
    return MaterializeResult(metadata=_metadata(facts))


enrichment_assets += [kb_passages, contact_embeddings, solution_checks, intent_similarity, intent_clusters]
