"""A dbt-duckdb plugin that hands the PII hashing key to SQL without writing it into any artefact.

Why: a model that reads ``env_var("SI_PII_KEY")`` gets the key compiled into its SQL, and dbt keeps
compiled SQL in ``target/manifest.json``, ``run_results.json``, ``target/compiled`` and its logs,
which ``dbt docs`` serves. With the key, a keyed hash of a phone number is reversed in seconds by
hashing every number. Here the key becomes a temporary macro, ``si_pii_key()``, defined on each
DuckDB connection and cursor dbt opens: models call the macro, the SQL dbt writes down names it,
and a temporary macro lives only in that connection's memory (never in the warehouse file).
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from service_insight.settings import get_settings

MACRO = "si_pii_key"


def define_key_macro(conn, key: str) -> None:
    """Create the connection-local macro that returns ``key`` (quoted as a SQL string literal)."""
    literal = "'" + key.replace("'", "''") + "'"
    conn.execute(f"create or replace temporary macro {MACRO}() as {literal}")


class Plugin(BasePlugin):
    """Listed under ``plugins`` in ``profiles.yml``; dbt-duckdb calls it for every connection and cursor."""

    def initialize(self, plugin_config: dict) -> None:
        self.key = get_settings().pii_key()

    def configure_connection(self, conn) -> None:
        define_key_macro(conn, self.key)

    def configure_cursor(self, cursor) -> None:  # a cursor is a connection of its own: temporary macros do not carry
        define_key_macro(cursor, self.key)
