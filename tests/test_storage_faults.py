"""A full disk or a read-only warehouse: the run stops with a sentence that says why, and recovers.

Real file systems, not patched calls: a small tmpfs that fills up while the loader writes, then
grows (space freed) and the same command is run again; a tmpfs remounted read-only under an
existing warehouse. Where this machine may not mount file systems, the full disk is replaced by
the process's file-size limit (``ulimit -f``: the write fails with EFBIG the same way), and the
read-only case falls back to permission bits (which only bind a non-root user).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from service_insight.settings import PROJECT_ROOT
from tests.conftest import generate_sample

pytestmark = [pytest.mark.slow, pytest.mark.faults]


@contextmanager
def tmpfs(where: Path, size_mb: int):
    """A tmpfs of ``size_mb`` at ``where``; yields False when this machine may not mount."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True, capture_output=True)


def run_cli(data_dir: Path, warehouse: Path, *args: str, file_limit: int | None = None) -> tuple[int, str]:
    env = {**os.environ, "SI_DATA_DIR": str(data_dir), "SI_WAREHOUSE_PATH": str(warehouse),
           "DAGSTER_HOME": str(data_dir / "dagster_home"), "HF_HUB_OFFLINE": "1"}
    for name in ("SI_LANDING_DIR", "SI_SNAPSHOT_DIR", "SI_GROUND_TRUTH_DIR", "SI_MODEL_DIR"):
        env.pop(name, None)

    def limit() -> None:
        if file_limit:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    done = subprocess.run([sys.executable, "-m", "service_insight.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=900, preexec_fn=limit)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("storage")
    summary = generate_sample(data_dir, scale=300, days=14, seed=3)
    return data_dir, summary


def test_a_disk_that_fills_mid_load_stops_the_run_clearly_and_a_rerun_recovers(sample, tmp_path):
    data_dir, summary = sample
    mount = tmp_path / "small_disk"
    warehouse = mount / "warehouse.duckdb"
    with tmpfs(mount, 2) as mounted:
        os.environ["SI_MIN_FREE_MB"] = "0"  # let the run start, so the disk fills while it writes
        try:
            if mounted:
                code, out = run_cli(data_dir, warehouse, "materialize", "--no-docs", "--only", "ingestion")
                expected = "No space left on device"
            else:
                code, out = run_cli(data_dir, warehouse, "materialize", "--no-docs", "--only", "ingestion",
                                    file_limit=2 * 2**20)
                expected = "File too large"
            assert code == 1, out[-3000:]
            assert f"cause: {expected}" in out, out[-3000:]
            assert "the last good snapshot is still published" in out
            if mounted:
                remount(mount, "size=200m")  # space freed
            code, out = run_cli(data_dir, warehouse, "materialize", "--no-docs", "--only", "ingestion")
            assert code == 0, out[-3000:]
        finally:
            os.environ.pop("SI_MIN_FREE_MB", None)
        with duckdb.connect(str(warehouse), read_only=True) as c:
            turns = c.execute("select count(*) from raw.turns").fetchone()[0]
            dupes = c.execute("select count(*) from (select conversation_id, turn_index from raw.turns "
                              "group by all having count(*) > 1)").fetchone()[0]
            rows_in, loaded, bad = c.execute("select sum(rows_in), sum(rows_loaded), sum(rows_quarantined) "
                                             "from raw._load_manifest").fetchone()
        size = warehouse.stat().st_size
    assert turns == summary["turns"] and dupes == 0  # nothing lost, nothing twice
    assert size > 2 * 2**20  # the loaded warehouse could never have fit the first disk (or file limit)
    assert rows_in == loaded + bad


def test_a_full_disk_is_refused_before_any_work(sample, tmp_path):
    data_dir, _ = sample
    mount = tmp_path / "full_disk"
    with tmpfs(mount, 1) as mounted:
        if mounted:
            code, out = run_cli(data_dir, mount / "warehouse.duckdb", "materialize", "--no-docs")
            free = "1"
        else:  # no mount rights: ask for more room than this disk has
            import shutil

            need = shutil.disk_usage(tmp_path).free // 2**20 + 1024
            os.environ["SI_MIN_FREE_MB"] = str(need)
            try:
                code, out = run_cli(data_dir, tmp_path / "w" / "warehouse.duckdb", "materialize", "--no-docs")
            finally:
                os.environ.pop("SI_MIN_FREE_MB", None)
            free = ""
    assert code == 2, out[-2000:]
    assert f"cannot build: only {free}" in out and "MiB free on the disk holding" in out and "SI_MIN_FREE_MB" in out


def test_a_read_only_warehouse_is_refused_with_a_clear_error(sample, tmp_path):
    data_dir, _ = sample
    mount = tmp_path / "ro_disk"
    with tmpfs(mount, 100) as mounted:
        warehouse = mount / "warehouse.duckdb"
        duckdb.connect(str(warehouse)).close()
        if mounted:
            remount(mount, "ro")
        else:
            mount.chmod(0o500)
            warehouse.chmod(0o400)
            if os.access(warehouse, os.W_OK):
                pytest.skip("root without mount rights: permission bits do not bind")
        try:
            code, out = run_cli(data_dir, warehouse, "materialize", "--no-docs")
        finally:
            if not mounted:
                mount.chmod(0o700)
    assert code == 2, out[-2000:]
    assert f"cannot build: the warehouse {warehouse} is read-only" in out
    assert "Traceback" not in out
