"""One writer, many readers: dashboards read the snapshot while a build is writing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from warehouse.db import WarehouseUnavailable, writer
from warehouse.snapshot import current, open_readonly

pytestmark = pytest.mark.slow


def test_readers_never_block_or_see_partial_tables_while_a_build_writes(use_built):
    settings = use_built.settings
    first = current(settings.snapshot_dir)
    expected_total = use_built.summary["conversations"]
    env = {**os.environ, "SI_DATA_DIR": str(use_built.data_dir)}
    log = use_built.data_dir / "concurrent_build.log"
    build = subprocess.Popen([sys.executable, "-m", "service_insight.cli", "materialize", "--no-docs"], env=env,
                             stdout=log.open("w"), stderr=subprocess.STDOUT)
    reads, errors, versions = 0, [], set()
    try:
        while build.poll() is None:
            ref = current(settings.snapshot_dir)
            try:
                with open_readonly(ref) as conn:
                    total = conn.execute("select sum(contacts) from marts.fct_kpi_daily").fetchone()[0]
                    conversations = conn.execute("select count(*) from marts.fct_conversations").fetchone()[0]
                if total != expected_total or conversations != expected_total:
                    errors.append(f"partial data: {total} / {conversations}")
                reads += 1
                versions.add(ref.version)
            except Exception as exc:  # any lock or missing table is a failure of the design
                errors.append(repr(exc))
            time.sleep(0.05)
        output = log.read_text()
    finally:
        if build.poll() is None:
            build.kill()
    assert build.returncode == 0, output[-3000:]
    assert not errors, errors[:5]
    assert reads > 10
    assert current(settings.snapshot_dir).version != first.version


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
