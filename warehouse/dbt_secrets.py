"""A dbt-duckdb plugin that hands the PII hashing key to SQL without writing it into any artefact.

Why: a model that reads ``env_var("SI_PII_KEY")`` gets the key compiled into its SQL, and dbt keeps
compiled SQL in ``target/manifest.json``, ``run_results.json``, ``target/compiled`` and its logs,
which ``dbt docs`` serves. With the key, a keyed hash of a phone number is reversed in seconds by
hashing every number. Here the key becomes a temporary macro, ``si_pii_key()``, defined on each
DuckDB connection and cursor dbt opens: models call the macro, the SQL dbt writes down names it,
and a temporary macro lives only in that connection's memory (never in the warehouse file).

The same plugin registers ``si_mask_pii(varchar) -> varchar``, the Python recognisers of
``warehouse.pii`` as a DuckDB function, which the staging macro ``mask_pii()`` calls: checksums,
context words and names do not fit in SQL regular expressions.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin

from service_insight.settings import get_settings
from warehouse import pii_cache

MACRO = "si_pii_key"
MASK_FUNCTION = "si_mask_pii"


def define_key_macro(conn, key: str) -> None:
    """Create the connection-local macro that returns ``key`` (quoted as a SQL string literal)."""
    literal = "'" + key.replace("'", "''") + "'"
    conn.execute(f"create or replace temporary macro {MACRO}() as {literal}")


RULES_MASK_FUNCTION = "si_mask_pii_rules"


def _mask_batch(texts: pa.Array) -> pa.Array:
    """A vector of texts masked; NULL stays NULL; a text repeated in the batch (agent greetings) is masked once,
    and a text an earlier build masked is not masked again (``warehouse.pii_cache``)."""
    return pa.array(pii_cache.mask_many(texts.to_pylist()), type=pa.string())


def _mask_batch_rules(texts: pa.Array) -> pa.Array:
    """The same without the name model: for messages the platform writes around quoted values."""
    return pa.array(pii_cache.mask_many(texts.to_pylist(), name_model=False), type=pa.string())


def register_mask_function(conn) -> None:
    """Register ``si_mask_pii`` and ``si_mask_pii_rules`` on ``conn`` (a connection or cursor).

    DuckDB keeps Python functions in the database instance, so every connection and cursor to the
    same database sees the first registration; a second one is refused and is not needed.
    """
    for name, function in ((MASK_FUNCTION, _mask_batch), (RULES_MASK_FUNCTION, _mask_batch_rules)):
        try:
            conn.create_function(name, function, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"),
                                 type="arrow", side_effects=False)
        except (duckdb.CatalogException, duckdb.NotImplementedException):  # on another cursor; on this connection
            # Prove it is callable here (raises if not). Not a duckdb_functions() lookup: that lists every function
            # (12 ms), and dbt opens a cursor per node: it was a tenth of a dbt build.
            conn.execute(f"select {name}(NULL::VARCHAR)").fetchall()


class Plugin(BasePlugin):
    """Listed under ``plugins`` in ``profiles.yml``; dbt-duckdb calls it for every connection and cursor."""

    def initialize(self, plugin_config: dict) -> None:
        self.key = get_settings().pii_key()

    def configure_connection(self, conn) -> None:
        define_key_macro(conn, self.key)
        register_mask_function(conn)

    def configure_cursor(self, cursor) -> None:  # a cursor is a connection of its own: temporary macros do not carry
        define_key_macro(cursor, self.key)
        register_mask_function(cursor)
