"""Enrichment assets: models trained on the warehouse's own labels, predictions for new records only."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from ml.classifier import TrainConfig
from ml.intent import score_new_conversations, train_if_labels_changed
from orchestration.assets.ingestion import WRITER_POOL
from orchestration.resources import WarehouseResource

STAGED_TURNS = AssetKey(["staging", "stg_raw__turns"])
AGREED_INTENTS = AssetKey(["intermediate", "int_annotations__agreed_intents"])


@asset(
    key=AssetKey(["ml", "intent_model"]),
    deps=[STAGED_TURNS, AGREED_INTENTS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"pytorch", "duckdb"},
    description="Intent classifier trained on the intents both annotators agree on (first customer message, "
                "PII-masked); retrained only when those labels change. Versions and metrics in ml.ml_model_runs.",
)
def intent_model(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    status, facts = train_if_labels_changed(warehouse.connect, Path(warehouse.model_dir),
                                            TrainConfig(device=warehouse.device))
    context.log.info(f"intent model {status}: {facts}")
    return MaterializeResult(metadata={"status": status, **{k: v for k, v in facts.items() if v is not None}})


@asset(
    key=AssetKey(["ml", "intent_predictions"]),
    deps=[AssetKey(["ml", "intent_model"]), STAGED_TURNS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"pytorch", "duckdb"},
    description="Intent, confidence and escalation flag per conversation and model version; a re-run scores "
                "only conversations the current version has not seen.",
)
def intent_predictions(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    facts = score_new_conversations(warehouse.connect, Path(warehouse.model_dir), warehouse.device)
    context.log.info(f"intent predictions: {facts}")
    return MaterializeResult(metadata={k: (MetadataValue.int(v) if isinstance(v, int) else v)
                                       for k, v in facts.items()})


enrichment_assets = [intent_model, intent_predictions]
