"""Opening the warehouse: one writer (Dagster), clear errors when that is not possible.

Why: DuckDB allows one writing process per file. A second writer, a read-only directory or a
full disk must surface as a sentence a person can act on, not as a library traceback.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb


# What the operating system says when storage fails, and what a person should do about it.
STORAGE_FAILURES = (
    ("No space left on device", "the disk holding the warehouse is full: free space (old snapshots, logs) or "
                                "move SI_DATA_DIR, then run again; the last good snapshot is still published"),
    ("File too large", "a file reached the size limit of this process or file system (ulimit -f); raise it or "
                       "move SI_DATA_DIR, then run again; the last good snapshot is still published"),
    ("Read-only file system", "the warehouse is on a read-only file system: mount it read-write or point "
                              "SI_WAREHOUSE_PATH / SI_DATA_DIR at a writable location"),
    ("Permission denied", "this user may not write the warehouse or its folder: fix the permissions or point "
                          "SI_WAREHOUSE_PATH at a writable location"),
    ("Disk quota exceeded", "the disk quota of this user is used up: free space or raise the quota"),
)


def diagnose_storage_error(message: str) -> str | None:
    """A sentence for a storage failure buried in an error message (None if it is not one)."""
    for marker, advice in STORAGE_FAILURES:
        if marker.lower() in message.lower():
            return f"{marker}: {advice}"
    return None


def min_free_bytes() -> int:
    """SI_MIN_FREE_MB from the settings (the one source of configuration)."""
    from service_insight.settings import get_settings

    return get_settings().min_free_mb * 1024 * 1024


class WarehouseUnavailable(RuntimeError):
    """The warehouse file cannot be opened for writing; the message says why and what to do."""


def check_writable(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseUnavailable(f"cannot create the warehouse folder {folder}: {exc.strerror}") from exc
    # os.access also answers "no" for root on a read-only mount (EROFS).
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise WarehouseUnavailable(
            f"the warehouse {path} is read-only for this user; point SI_WAREHOUSE_PATH at a writable "
            "location or fix the permissions")
    free, need = shutil.disk_usage(folder).free, min_free_bytes()
    if free < need:
        raise WarehouseUnavailable(
            f"only {free // (1024 * 1024)} MiB free on the disk holding {path}; the warehouse needs at least "
            f"{need // (1024 * 1024)} MiB to write safely (SI_MIN_FREE_MB)")


@contextmanager
def writer(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-write connection; closed (and the file lock released) on exit."""
    check_writable(path)
    try:
        conn = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseUnavailable(
                f"the warehouse {path} is being written by another process; DuckDB allows one writer. "
                "Wait for the running materialization to finish (dashboards read the published snapshot).") from exc
        advice = diagnose_storage_error(str(exc))
        raise WarehouseUnavailable(f"cannot open the warehouse {path}: {advice or exc}") from exc
    try:
        yield conn
    finally:
        conn.close()
