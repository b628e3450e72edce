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

MIN_FREE_BYTES = 64 * 1024 * 1024


class WarehouseUnavailable(RuntimeError):
    """The warehouse file cannot be opened for writing; the message says why and what to do."""


def check_writable(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseUnavailable(f"cannot create the warehouse folder {folder}: {exc.strerror}") from exc
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise WarehouseUnavailable(
            f"the warehouse {path} is read-only for this user; point SI_WAREHOUSE_PATH at a writable "
            "location or fix the permissions")
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise WarehouseUnavailable(
            f"only {free // (1024 * 1024)} MiB free on the disk holding {path}; the warehouse needs at least "
            f"{MIN_FREE_BYTES // (1024 * 1024)} MiB to write safely")


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
        raise WarehouseUnavailable(f"cannot open the warehouse {path}: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()
