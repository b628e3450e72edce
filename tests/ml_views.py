"""The dbt views the text models read (dbt/models/intermediate/ml/), created from their own SQL.

Unit tests build tiny warehouses by hand (a staging table, the agreed labels); the models then
read the same views a real build creates. Rendering the model files here, instead of writing
the SQL again, keeps the tests on the SQL that ships.
"""

from __future__ import annotations

import re
from pathlib import Path

ML_MODELS = Path(__file__).resolve().parent.parent / "dbt" / "models" / "intermediate" / "ml"
_REF = re.compile(r"\{\{\s*ref\('([a-z0-9_]+)'\)\s*\}\}")
_CONFIG = re.compile(r"\{\{\s*config\(.*?\)\s*\}\}", re.S)


def _schema(model: str) -> str:
    return "staging" if model.startswith("stg_") else "intermediate"


def create_ml_input_views(conn) -> None:
    """Create every ``intermediate.int_ml__*`` view whose inputs the tiny warehouse has."""
    import duckdb

    conn.execute("create schema if not exists intermediate")
    pending = {p.stem: p.read_text(encoding="utf-8") for p in sorted(ML_MODELS.glob("*.sql"))}
    while pending:  # a view is created after the views it reads
        for name, sql in list(pending.items()):
            if any(ref in pending for ref in _REF.findall(sql)):
                continue
            body = _REF.sub(lambda m: f"{_schema(m.group(1))}.{m.group(1)}", _CONFIG.sub("", sql))
            body = "\n".join(line for line in body.splitlines() if not line.strip().startswith("--"))
            del pending[name]
            try:
                conn.execute(f"create or replace view intermediate.{name} as {body}")
            except duckdb.CatalogException:  # an input the test did not create: so are the views on top
                pending = {n: q for n, q in pending.items() if name not in _REF.findall(q)}
