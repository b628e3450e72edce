"""One writer, many readers: dashboards read the snapshot while a build is writing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from warehouse.db import WarehouseUnavailable, writer
from warehouse.snapshot import current, open_readonly

pytestmark = pytest.mark.slow


def test_readers_never_block_or_see_partial_tables_while_a_build_writes(rebuilt):
    assert rebuilt.returncode == 0, rebuilt.output[-3000:]
    assert not rebuilt.errors, rebuilt.errors[:5]
    assert rebuilt.reads > 10
    assert rebuilt.version_after != rebuilt.versions_before


def test_a_second_writer_gets_a_clear_message(use_built):
    path = use_built.settings.warehouse_path
    code = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
            "time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseUnavailable, match="another process"):
            with writer(path):
                pass
        # Readers of the snapshot are not affected by the writer's lock.
        with open_readonly(current(use_built.settings.snapshot_dir)) as conn:
            assert conn.execute("select count(*) from marts.fct_conversations").fetchone()[0] > 0
    finally:
        holder.kill()
        holder.wait()


def test_a_read_only_warehouse_folder_gives_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root); permission bits are not enforced")
        with pytest.raises(WarehouseUnavailable, match="read-only"):
            with writer(folder / "w.duckdb"):
                pass
    finally:
        folder.chmod(0o700)


def test_a_warehouse_path_under_a_file_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(WarehouseUnavailable, match="cannot create the warehouse folder"):
        with writer(blocker / "w.duckdb"):
            pass


def test_a_full_disk_gives_a_clear_error(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 1024, 1024))
    with pytest.raises(WarehouseUnavailable, match="MiB free"):
        with writer(tmp_path / "w.duckdb"):
            pass
