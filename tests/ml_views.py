"""The dbt views the text models read (dbt/models/intermediate/ml/), created from their own SQL.

Unit tests build tiny warehouses by hand (a staging table, the agreed labels); the models then
read the same views a real build creates. Rendering the model files here (with the project's
macros they call), instead of writing the SQL again, keeps the tests on the SQL that ships.
The models reach such a warehouse through ``connector``, as they reach the real one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt"
ML_MODELS = DBT_PROJECT / "models" / "intermediate" / "ml"
MACROS = DBT_PROJECT / "macros"
_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(")


def _schema(model: str) -> str:
    return "staging" if model.startswith("stg_") else "intermediate"


def _render(sql: str) -> tuple[str, set[str]]:
    """The model's SQL as dbt compiles it, with ``schema.model`` for each ``ref``, and the models it refs."""
    import jinja2

    refs: set[str] = set()

    def ref(model: str) -> str:
        refs.add(model)
        return f"{_schema(model)}.{model}"

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(MACROS))
    env.globals.update(ref=ref, config=lambda **_: "")
    imports = "".join(
        f"{{% from '{path.name}' import {name} %}}"
        for path in sorted(MACROS.glob("*.sql"))
        for name in _MACRO.findall(path.read_text(encoding="utf-8"))
        if re.search(rf"\b{name}\s*\(", sql)
    )
    body = env.from_string(imports + sql).render()
    return "\n".join(line for line in body.splitlines() if not line.strip().startswith("--")), refs


def create_ml_input_views(conn) -> None:
    """Create every ``intermediate.int_ml__*`` view whose inputs the tiny warehouse has."""
    import duckdb

    conn.execute("create schema if not exists intermediate")
    pending = {p.stem: _render(p.read_text(encoding="utf-8")) for p in sorted(ML_MODELS.glob("*.sql"))}
    while pending:  # a view is created after the views it reads
        for name, (body, refs) in list(pending.items()):
            if any(ref in pending for ref in refs):
                continue
            del pending[name]
            try:
                conn.execute(f"create or replace view intermediate.{name} as {body}")
            except duckdb.CatalogException:  # an input the test did not create: so are the views on top
                pending = {n: (q, r) for n, (q, r) in pending.items() if name not in r}


def connector(path: Path) -> Callable[[], AbstractContextManager]:
    """The ``connect`` the ml tasks take: each call a fresh connection to ``path``, closed on exit."""
    import duckdb

    @contextmanager
    def connect() -> Iterator[duckdb.DuckDBPyConnection]:
        conn = duckdb.connect(str(path))
        try:
            yield conn
        finally:
            conn.close()

    return connect
