"""The Parquet lake the Spark target reads (warehouse/lake.py), checked without Spark.

The export must hold every landed row, never the free texts or caller numbers unmasked (the same masking and
keyed hash staging applies, so the two targets agree), and a re-export must replace, not append. Without a
Spark Thrift server the Spark commands must say how to start one.
"""

from __future__ import annotations

import socket

import duckdb
import pytest

from tests.conftest import point_settings_at

EMAIL = "maria.lopez@example.com"
PHONE = "+44 7700 900123"


@pytest.fixture
def warehouse(tmp_path):
    point_settings_at(tmp_path / "data")
    from service_insight.settings import get_settings

    path = get_settings().warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw; create schema ml")
        con.execute("create table raw.turns (conversation_id varchar, turn_index integer, text varchar)")
        con.execute("insert into raw.turns values ('C1', 0, ?), ('C1', 1, 'thanks, bye'), ('C2', 0, null)",
                    [f"write to me at {EMAIL} please"])
        con.execute("create table raw.calls (call_id varchar, caller_number varchar)")
        con.execute("insert into raw.calls values ('K1', ?), ('K2', '   '), ('K3', null)", [PHONE])
        con.execute("create table ml.intent_predictions (conversation_id varchar, intent varchar, confidence double)")
        con.execute("insert into ml.intent_predictions values ('C1', 'refund', 0.9)")
        con.execute("create table raw.empty_one (a integer)")
    return path


def _read(folder):
    return duckdb.sql(f"select * from read_parquet('{folder}/*.parquet') order by all").fetchall()


def test_the_lake_holds_every_row_with_texts_masked_and_callers_hashed_as_staging_does(warehouse):
    from warehouse import lake
    from warehouse.dbt_secrets import define_key_macro, register_mask_function
    from service_insight.settings import get_settings

    tables = {(t.schema, t.table): t for t in lake.export()}
    assert set(tables) == {("raw", "turns"), ("raw", "calls"), ("ml", "intent_predictions"), ("raw", "empty_one")}
    assert tables[("raw", "turns")].rows == 3 and tables[("raw", "empty_one")].rows == 0
    turns = _read(tables[("raw", "turns")].path)
    assert len(turns) == 3
    written = " ".join(str(r[2]) for r in turns)
    assert EMAIL not in written and "[EMAIL]" in written and "thanks, bye" in written
    assert any(r[2] is None for r in turns)  # a null text stays null
    calls = dict((r[0], r[1]) for r in _read(tables[("raw", "calls")].path))
    assert PHONE not in str(calls.values())
    assert calls["K2"] is None and calls["K3"] is None  # blank and missing numbers: no key, as in staging
    # The hash is the staging model's: the same function over the same key.
    con = duckdb.connect()
    define_key_macro(con, get_settings().pii_key())
    register_mask_function(con)
    expected = con.execute("select sha256(si_pii_key() || regexp_replace(?, '[^0-9+]', '', 'g'))", [PHONE]).fetchone()[0]
    assert calls["K1"] == expected
    assert _read(tables[("ml", "intent_predictions")].path) == [("C1", "refund", 0.9)]
    assert _read(tables[("raw", "empty_one")].path) == []


def test_exporting_again_replaces_each_table_whole(warehouse):
    from warehouse import lake

    first = {t.table: t for t in lake.export()}
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from raw.turns where turn_index = 1")
    second = {t.table: t for t in lake.export()}
    assert second["turns"].rows == 2 and len(_read(second["turns"].path)) == 2
    assert len(_read(second["calls"].path)) == len(_read(first["calls"].path)) == 3
    leftovers = [p.name for p in (lake.lake_dir() / "raw").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_without_a_spark_server_the_commands_say_how_to_start_one(tmp_path):
    from warehouse import lake

    point_settings_at(tmp_path / "data")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RuntimeError, match="make cluster-up"):
        lake.spark_connection("127.0.0.1", port)


def test_exporting_before_any_build_says_to_build_first(tmp_path):
    from warehouse import lake

    point_settings_at(tmp_path / "data")
    with pytest.raises(RuntimeError, match="build it first"):
        lake.export()
