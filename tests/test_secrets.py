"""The PII hashing key stays in its secret store: no artefact of a build holds it, and it still keys the hashes."""

from __future__ import annotations

import hashlib
import re

import duckdb

from service_insight.settings import PROJECT_ROOT


def _files_holding(needle: bytes, *roots) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*") if root.exists() else []:
            if path.is_file() and not path.is_symlink() and path.name != "pii.key":
                try:
                    if needle in path.read_bytes():
                        found.append(str(path))
                except OSError:
                    continue
    return found


def test_the_pii_key_appears_in_no_artefact_of_a_build(use_built):
    key = use_built.settings.pii_key()
    assert len(key) >= 32
    dbt_dir = PROJECT_ROOT / "dbt"
    # dbt's target (manifest, run results, compiled SQL: what `dbt docs` serves), its logs, the warehouse,
    # the published snapshots, Dagster's run storage and logs: none may hold the key.
    leaks = _files_holding(key.encode(), dbt_dir / "target", dbt_dir / "logs", use_built.data_dir)
    assert not leaks, leaks


def test_caller_keys_are_still_hashed_with_the_secret_key(use_built):
    key = use_built.settings.pii_key()
    with duckdb.connect(str(use_built.settings.warehouse_path), read_only=True) as c:
        rows = c.execute("""select r.caller_number, s.caller_key from raw.calls as r
                            join staging.stg_raw__calls as s using (call_id)
                            where nullif(trim(r.caller_number), '') is not null limit 20""").fetchall()
    assert rows
    for number, caller_key in rows:
        expected = hashlib.sha256((key + re.sub(r"[^0-9+]", "", number)).encode()).hexdigest()
        assert caller_key == expected
