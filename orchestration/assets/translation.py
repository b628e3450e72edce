"""Translation assets: a translation model from the warehouse's translation memory, every turn in the pivot.

The model is retrained only when the parallel data (or the budget) changes, or replaced by a
checkpoint the user configures; translations are written per (turn, model version), so a re-run
only translates new or corrected turns. ``ml.translation_quality`` tells dashboards per language
pair whether the translations are good enough to read.
"""

import json
import os
from dataclasses import dataclass, fields, replace
from typing import Optional

from dagster import AssetExecutionContext, AssetKey, Config, MaterializeResult, MetadataValue, asset

from ml.translation import TranslationConfig, tatoeba_pairs, train_if_parallel_data_changed, translate_new_turns
from orchestration.assets.ingestion import WRITER_POOL
from orchestration.resources import WarehouseResource
from service_insight.settings import Settings

STAGED_TURNS = AssetKey(["staging", "stg_raw__turns"])
TRANSLATION_MEMORY = AssetKey(["staging", "stg_raw__translation_memory"])
TRANSLATION_MODEL = AssetKey(["ml", "translation_model"])


@dataclass(frozen=True)
class TranslationOptions:
    """The deployment's translation settings (``SI_TRANSLATION_*``, ``service_insight.settings``), parsed."""

    base: str  # a Hugging Face seq2seq checkpoint directory: used as it is, nothing trained
    pivot: str
    languages: tuple[str, ...]
    max_seconds: float
    max_steps: int
    min_chrf: float
    corpora: tuple[str, ...]  # extra Tatoeba-format files (english<TAB>other) to train on
    max_turns: int  # turns translated per run, 0 = all
    threads: int  # CPU threads for training and translating, 0 = torch's default

    @classmethod
    def from_settings(cls, s: Settings) -> "TranslationOptions":
        def as_tuple(value: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in value.replace(os.pathsep, ",").split(",") if v.strip())

        return cls(base=s.translation_base, pivot=s.translation_pivot, languages=as_tuple(s.translation_languages),
                   max_seconds=float(s.translation_max_seconds), max_steps=int(s.translation_max_steps),
                   min_chrf=float(s.translation_min_chrf), corpora=as_tuple(s.translation_corpora),
                   max_turns=int(s.translation_max_turns), threads=int(s.translation_threads))


class TranslationTrainingConfig(Config):
    """Run-config overrides of the model size and budget (the launchpad, or a test's tiny model)."""

    max_seconds: Optional[float] = None
    max_steps: Optional[int] = None
    max_epochs: Optional[int] = None
    d_model: Optional[int] = None
    encoder_layers: Optional[int] = None
    decoder_layers: Optional[int] = None
    heads: Optional[int] = None
    ffn_dim: Optional[int] = None
    vocab_size: Optional[int] = None
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None
    warmup_steps: Optional[int] = None
    dropout: Optional[float] = None
    label_smoothing: Optional[float] = None
    threads: Optional[int] = None


def training_config(options: TranslationOptions, overrides: TranslationTrainingConfig, device: str
                    ) -> TranslationConfig:
    cfg = TranslationConfig(max_seconds=options.max_seconds, max_steps=options.max_steps, device=device,
                            threads=options.threads)
    given = {f.name: getattr(overrides, f.name) for f in fields(TranslationConfig)
             if getattr(overrides, f.name, None) is not None}
    return replace(cfg, **given)


def _metadata(facts: dict) -> dict:
    out = {}
    for key, value in facts.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            out[key] = MetadataValue.int(value)
        elif isinstance(value, float):
            out[key] = MetadataValue.float(value)
        elif isinstance(value, (dict, list)):
            out[key] = MetadataValue.json(value)
        else:
            out[key] = value
    return out


@asset(
    key=TRANSLATION_MODEL,
    deps=[TRANSLATION_MEMORY],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"pytorch", "duckdb"},
    description="Translation model (Marian, trained from scratch on the translation memory with >>xx<< target "
                "tags; or the checkpoint set in SI_TRANSLATION_BASE). Retrained only when the parallel data "
                "or the budget changes. BLEU/chrF per direction in ml.ml_model_runs and ml.translation_quality.",
)
def translation_model(context: AssetExecutionContext, warehouse: WarehouseResource,
                      config: TranslationTrainingConfig) -> MaterializeResult:
    options = TranslationOptions.from_settings(warehouse.settings)
    cfg = training_config(options, config, warehouse.settings.device)
    extra_train, extra_eval = [], []
    for corpus in options.corpora:
        extra_train += tatoeba_pairs(corpus, "train", pivot=options.pivot)
        extra_eval += tatoeba_pairs(corpus, "test", pivot=options.pivot)
    status, facts = train_if_parallel_data_changed(
        warehouse.connect, warehouse.settings.model_dir, cfg, options.pivot, options.base or None,
        extra_train, extra_eval, options.min_chrf)
    log = context.log.warning if status == "skipped" else context.log.info
    log(f"translation model {status}: {json.dumps(facts, ensure_ascii=False)}")
    from ml.registry import record_training_status

    with warehouse.connect() as conn:
        record_training_status(conn, "translation", status, facts)
    return MaterializeResult(metadata={"status": status, **_metadata(facts)})


@asset(
    key=AssetKey(["ml", "turn_translations"]),
    deps=[TRANSLATION_MODEL, STAGED_TURNS],
    group_name="enrichment",
    pool=WRITER_POOL,
    kinds={"pytorch", "duckdb"},
    description="Detected language and pivot-language translation of every staged (PII-masked) turn, per model "
                "version; pivot-language turns are passed through. A re-run translates only new or changed turns.",
)
def turn_translations(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    options = TranslationOptions.from_settings(warehouse.settings)
    facts = translate_new_turns(warehouse.connect, warehouse.settings.model_dir, options.pivot, options.languages,
                                limit=options.max_turns or None, device=warehouse.settings.device, threads=options.threads)
    if facts.get("seconds") and facts.get("translated"):
        facts["turns_per_second"] = round(facts["turns"] / facts["seconds"], 1)
    context.log.info(f"turn translations: {json.dumps(facts, ensure_ascii=False)}")
    return MaterializeResult(metadata=_metadata(facts))


translation_assets = [translation_model, turn_translations]
