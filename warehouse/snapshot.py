"""Publishing read-only snapshots of the marts, so readers never see a lock or a half-built table.

Why: DuckDB has one writer. Dagster writes the warehouse; after every successful build the
mart tables are copied into a new, separate DuckDB file which is then named in
``CURRENT.json`` by an atomic rename. Readers (Streamlit) open the file the pointer names,
read-only; a snapshot file is never written again once published. Only marts are copied: raw
PII stays in the writer's file.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from warehouse.db import writer

PUBLISHED_SCHEMAS = ("marts",)


@dataclass(frozen=True)
class SnapshotRef:
    version: str
    path: Path
    published_at: str
    tables: dict[str, int]
    # Stages whose outputs this snapshot does not hold yet (a first build publishes the core marts
    # before the models have run); empty for a complete build.
    pending: tuple[str, ...] = ()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _publish_lock(snapshot_dir: Path):
    """One publisher at a time, even across processes (a CLI build beside a Dagster run)."""
    with (snapshot_dir / ".publish.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(warehouse_path: Path, snapshot_dir: Path, keep: int = 3, run_id: str | None = None,
            pending: tuple[str, ...] = ()) -> SnapshotRef:
    """Copy the published schemas into a new snapshot file and point CURRENT.json at it."""
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    with _publish_lock(snapshot_dir):
        return _publish_locked(warehouse_path, snapshot_dir, keep, run_id, tuple(pending))


def _publish_locked(warehouse_path: Path, snapshot_dir: Path, keep: int, run_id: str | None,
                    pending: tuple[str, ...]) -> SnapshotRef:
    stamp = datetime.now(timezone.utc)
    version = f"{stamp:%Y%m%dT%H%M%S%fZ}-{(run_id or uuid.uuid4().hex)[:8]}"
    final = snapshot_dir / f"warehouse-{version}.duckdb"
    tmp = snapshot_dir / f".building-{version}.duckdb"
    tables: dict[str, int] = {}
    with writer(warehouse_path) as conn:
        conn.execute("attach ? as snap", [str(tmp)])
        try:
            for schema in PUBLISHED_SCHEMAS:
                names = [r[0] for r in conn.execute(
                    "select table_name from information_schema.tables where table_schema = ? "
                    "and table_catalog = current_database() order by 1", [schema]).fetchall()]
                conn.execute(f"create schema if not exists snap.{schema}")
                for name in names:
                    conn.execute(f'create table snap.{schema}."{name}" as select * from {schema}."{name}"')
                    tables[f"{schema}.{name}"] = conn.execute(
                        f'select count(*) from snap.{schema}."{name}"').fetchall()[0][0]
            conn.execute("create table snap.main.snapshot_info (version varchar, published_at timestamp, tables json)")
            conn.execute("insert into snap.main.snapshot_info values (?, ?, ?)",
                         [version, stamp.replace(tzinfo=None), json.dumps(tables)])
            conn.execute("checkpoint snap")
        finally:
            conn.execute("detach snap")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    tmp.chmod(0o444)  # published means immutable
    os.replace(tmp, final)
    pointer = {"version": version, "file": final.name, "published_at": stamp.isoformat(), "tables": tables,
               "pending": list(pending)}
    tmp_pointer = snapshot_dir / f".CURRENT-{version}.json"
    tmp_pointer.write_text(json.dumps(pointer, indent=2))
    with tmp_pointer.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp_pointer, snapshot_dir / "CURRENT.json")
    _fsync_dir(snapshot_dir)
    _prune(snapshot_dir, keep, final.name)
    return SnapshotRef(version, final, pointer["published_at"], tables, pending)


def _prune(snapshot_dir: Path, keep: int, current: str) -> None:
    """Drop old snapshots; readers that still have one open keep reading it (POSIX unlink)."""
    files = sorted(snapshot_dir.glob("warehouse-*.duckdb"))
    for old in files[:-max(1, keep)]:
        if old.name != current:
            old.unlink(missing_ok=True)
    for stale in snapshot_dir.glob(".building-*.duckdb*"):
        stale.unlink(missing_ok=True)  # left by a run that was killed while copying


def current(snapshot_dir: Path) -> SnapshotRef | None:
    """The snapshot CURRENT.json names, or None before the first successful build."""
    pointer = snapshot_dir / "CURRENT.json"
    try:
        data = json.loads(pointer.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(data, dict) or "file" not in data or "version" not in data:
        return None
    path = snapshot_dir / data["file"]
    if not path.exists():
        return None
    pending = data.get("pending") or []
    return SnapshotRef(data["version"], path, data["published_at"], data.get("tables", {}),
                       tuple(str(p) for p in pending) if isinstance(pending, list) else ())


def open_readonly(ref: SnapshotRef) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(ref.path), read_only=True)
