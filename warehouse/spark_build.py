"""Build the dbt marts on Spark from the Parquet lake: ``service-insight spark build``.

Why a driver and not a bare ``dbt run --target spark``: the lake must be written and registered first
(warehouse/lake.py), and one model of the marts' lineage is a Python model
(``int_tickets__team_suggestions``, a classifier trained on the contacts) that dbt-spark can only run
on Databricks. Here it is replaced by the same ML function run by this process: its two inputs are
read from Spark (reduced there, as the DuckDB model reduces them in DuckDB), the suggestions are written
to the lake and registered as the table the model would have made, and dbt builds the rest. The other
Python models (forecasts, staffing, association rules) stay on the DuckDB target; ARCHITECTURE.md says so.

The steps: export + register the lake; ``dbt seed``; ``dbt run`` of the selection up to the Python model;
the team suggestions; ``dbt run`` of the rest. dbt writes its artefacts under the data folder
(``dbt/spark-target``), never over the DuckDB target's ``dbt/target``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from warehouse import lake

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt"
PYTHON_MODEL = "int_tickets__team_suggestions"
# The marts the Spark target builds by default: core, quality, the forecasts' input and the knowledge graph.
DEFAULT_SELECTION = ("+path:models/marts/core", "+path:models/marts/quality", "+fct_offered_contacts_hourly",
                     "+path:models/marts/knowledge_graph")


@dataclass
class SparkBuild:
    """What a build did, with the seconds of each step (printed by the CLI, read by bench/scale_out.py)."""

    tables_exported: int = 0
    rows_exported: int = 0
    suggestions: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def target_dir() -> Path:
    from service_insight.settings import get_settings

    return get_settings().data_dir / "dbt" / "spark-target"


def _dbt(args: list[str]) -> None:
    from service_insight.settings import get_settings

    get_settings().export_env()
    cmd = [str(Path(sys.executable).with_name("dbt")), *args, "--target", "spark", "--project-dir",
           str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR), "--target-path", str(target_dir()),
           "--log-path", str(target_dir() / "logs")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        tail = "\n".join(line for line in done.stdout.splitlines() if "ERROR" in line or "Error" in line)[-3000:]
        raise RuntimeError(f"dbt {args[0]} on Spark failed ({target_dir() / 'logs' / 'dbt.log'}):\n{tail}")


def _model_config(name: str) -> dict:
    manifest = json.loads((target_dir() / "manifest.json").read_text())
    return manifest["nodes"][f"model.service_insight.{name}"]["config"]


def _fetch(cursor, sql: str):
    import pandas as pd

    cursor.execute(sql)
    columns = [d[0].split(".")[-1] for d in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


def team_suggestions_on_spark(cursor) -> int:
    """The Python model's work: read its inputs from Spark, run ml.ticket_routing, land the table it makes."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ml.ticket_routing import suggest_teams_reusing

    # The same reductions as the model's DuckDB relations (int_tickets__team_suggestions.py).
    texts = _fetch(cursor, """
        select conversation_id,
            array_join(transform(sort_array(collect_list(named_struct('k', turn_index, 'v', text))), x -> x.v), ' ')
                as text
        from intermediate.int_turns__enriched
        where speaker = 'customer' and text is not null
            and (customer_turn_number < customer_turns or customer_turns <= 1)
        group by conversation_id""")
    labels = _fetch(cursor, """
        select conversation_id, team_id, started_at
        from intermediate.int_conversations__enriched
        where not coalesce(is_abandoned, false) and team_id is not null""")
    labels["started_at"] = pd.to_datetime(labels["started_at"])
    config = _model_config(PYTHON_MODEL)
    out = suggest_teams_reusing(
        texts, labels,
        folds=int(config.get("folds") or 5),
        min_training=int(config.get("min_training") or 200),
        max_training=int(config.get("max_training") or 50000),
        seed=int(config.get("seed") or 7),
        candidates=tuple(c.strip() for c in str(config.get("candidates") or "char_tfidf").split(",") if c.strip()),
    )
    folder = lake.lake_dir() / "derived" / PYTHON_MODEL
    writing = folder.parent / f".{PYTHON_MODEL}.writing"
    shutil.rmtree(writing, ignore_errors=True)  # a build killed mid-write left it
    writing.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), writing / "part-0.parquet")
    lake.swap_in(writing, folder)
    lake.register([lake.ExportedTable("intermediate", PYTHON_MODEL, len(out), folder)], cursor)
    return len(out)


def build(selection: tuple[str, ...] = DEFAULT_SELECTION) -> SparkBuild:
    """Export, register, seed and run the selection on the Spark target (see the module's docstring)."""
    result = SparkBuild()

    def step(name: str, started: float) -> None:
        result.seconds[name] = round(time.perf_counter() - started, 2)

    t = time.perf_counter()
    tables = lake.export()
    result.tables_exported, result.rows_exported = len(tables), sum(x.rows for x in tables)
    step("export", t)
    t = time.perf_counter()
    cursor = lake.spark_connection()
    lake.register(tables, cursor)
    step("register", t)
    t = time.perf_counter()
    _dbt(["seed"])
    step("seed", t)
    select = list(selection)
    t = time.perf_counter()
    # Up to the Python model: what it reads must exist on Spark first.
    _dbt(["run", "--select", f"+{PYTHON_MODEL}", "--exclude", PYTHON_MODEL])
    step("dbt run (before the team suggestions)", t)
    t = time.perf_counter()
    result.suggestions = team_suggestions_on_spark(cursor)
    step("team suggestions", t)
    t = time.perf_counter()
    _dbt(["run", "--select", *select, "--exclude", f"+{PYTHON_MODEL}"])
    step("dbt run (the rest)", t)
    return result


# The marts compared between the two targets (tests/test_distributed.py, bench/scale_out.py): the core marts, the
# quality marts, the forecasts' input and the knowledge graph.
COMPARED_MARTS = ("fct_conversations", "fct_turns", "fct_tickets", "fct_kpi_daily", "fct_calls", "fct_service_levels",
                  "fct_survey_answers", "fct_conversation_summary", "dim_agents", "dim_customers", "fct_qa_checks",
                  "fct_qa_scorecards", "fct_offered_contacts_hourly", "kg_nodes", "kg_edges")
_FLOATING = ("FLOAT", "DOUBLE", "DECIMAL", "REAL")


def _column_sql(name: str, dtype: str, engine: str) -> str:
    """A column as a value both engines return alike: times as microseconds since 1970, lists and JSON as text."""
    col = f"`{name}`" if engine == "spark" else f'"{name}"'
    base = dtype.split("(")[0].upper()
    if base in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        ts = f"cast({col} as timestamp)"
        return f"unix_micros({ts})" if engine == "spark" else f"epoch_us({ts})"
    if base.endswith("[]"):
        return (f"array_join({col}, '\u001f')" if engine == "spark"
                else f"array_to_string({col}, chr(31))")
    if base in _FLOATING:
        return f"cast({col} as double)"
    if base in ("JSON",):
        return f"cast({col} as string)"
    return col


def _fetch_rows(cursor_or_con, sql: str) -> list[tuple]:
    cursor_or_con.execute(sql)
    return [tuple(row) for row in cursor_or_con.fetchall()]


def compare_marts(marts: tuple[str, ...] = COMPARED_MARTS, warehouse: Path | None = None, cursor=None,
                  tolerance: float = 1e-9) -> dict[str, list[str]]:
    """Every row of each mart on DuckDB against Spark; returns the differences per mart (empty: equal).

    Rows are matched after sorting on their exact columns (texts, numbers that are not floating, flags, times,
    lists), then compared value by value: exact, except floating-point values, equal within ``tolerance``
    (relative, the engines add in different orders). JSON texts are compared as parsed objects.
    """
    import math

    import duckdb

    from service_insight.settings import get_settings

    warehouse = warehouse or get_settings().warehouse_path
    cursor = cursor or lake.spark_connection()
    differences: dict[str, list[str]] = {}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for mart in marts:
            columns = con.execute("select column_name, data_type from information_schema.columns where "
                                  "table_schema = 'marts' and table_name = ? order by ordinal_position",
                                  [mart]).fetchall()
            floating = [i for i, (_, t) in enumerate(columns) if t.split("(")[0].upper() in _FLOATING]
            json_cols = [i for i, (_, t) in enumerate(columns) if t.upper() == "JSON"]
            exact = [i for i in range(len(columns)) if i not in floating]

            def key(row):
                return tuple((row[i] is None, str(row[i])) for i in exact)

            ours = sorted(_fetch_rows(con, f"select {', '.join(_column_sql(n, t, 'duckdb') for n, t in columns)} "
                                           f"from marts.{mart}"), key=key)
            theirs = sorted(_fetch_rows(cursor, f"select {', '.join(_column_sql(n, t, 'spark') for n, t in columns)} "
                                                f"from marts.{mart}"), key=key)
            found = []
            if len(ours) != len(theirs):
                found.append(f"rows: duckdb {len(ours)} spark {len(theirs)}")
            for a, b in zip(ours, theirs):
                for i, (name, _) in enumerate(columns):
                    x, y = a[i], b[i]
                    if i in json_cols and x is not None and y is not None:
                        same = json.loads(x) == json.loads(y)
                    elif i in floating and x is not None and y is not None:
                        same = math.isclose(float(x), float(y), rel_tol=tolerance, abs_tol=tolerance)
                    else:
                        same = x == y
                    if not same:
                        found.append(f"{name}: duckdb {x!r} spark {y!r} (row {a[:2]})")
                if len(found) >= 20:
                    break
            differences[mart] = found
    finally:
        con.close()
    return differences


def cmd_spark(args) -> int:
    """``service-insight spark build|compare``: the marts on Spark, and their check against the DuckDB build."""
    try:
        if args.action == "build":
            done = build(tuple(args.select) if args.select else DEFAULT_SELECTION)
            print(f"lake: {done.tables_exported} tables, {done.rows_exported:,} rows exported to {lake.lake_dir()}; "
                  f"team suggestions: {done.suggestions:,}")
            for name, seconds in done.seconds.items():
                print(f"  {name:<40} {seconds:>7.1f} s")
            if not args.compare:
                return 0
        differences = compare_marts()
    except Exception as exc:  # noqa: BLE001 - Thrift, dbt and DuckDB errors alike: one line, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    bad = {mart: found for mart, found in differences.items() if found}
    for mart, found in differences.items():
        print(f"  {mart:<30} {'equal' if not found else f'{len(found)} differences'}")
        for line in found[:10]:
            print(f"      {line}")
    print("the marts on Spark equal the DuckDB build" if not bad else
          f"{len(bad)} of {len(differences)} marts differ between Spark and DuckDB")
    return 1 if bad else 0


def add_spark_parser(sub) -> None:
    p = sub.add_parser("spark", help="build the marts on Spark from the Parquet lake (dbt target spark), or compare "
                                     "them with the DuckDB build")
    p.add_argument("action", choices=("build", "compare"))
    p.add_argument("--select", nargs="*", help="dbt selection (default: core, quality, forecast input, knowledge graph)")
    p.add_argument("--compare", action="store_true", help="after the build, compare the marts with the DuckDB build")
    p.set_defaults(func=cmd_spark)
