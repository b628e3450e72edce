"""Where a build's model inference runs: in the build's own process, or on a Ray cluster.

Why a seam here and nowhere else: reading every new record with the current model (the intent,
emotion and quality-act classifiers, the sentence embeddings behind the knowledge base, the
answer checks and intent discovery) is the part of a build that grows with the data. The
warehouse reads and the atomic writes stay in the Dagster step; only the model calls move.

``SI_EXECUTOR=local`` (default) calls the model here. ``SI_EXECUTOR=ray`` sends the distinct
texts to the Ray cluster at ``SI_RAY_ADDRESS`` as a Ray Data dataset mapped over a pool of
actors spread over the nodes (``SI_RAY_ACTORS``, default one per node, ``SI_RAY_CPUS_PER_ACTOR``
CPUs each): each actor loads the model folder once and reads batches of texts. The caller gets
the same array, in the same order, as the local call gives (tests/test_distributed.py checks it
to 1e-6 on a two-node cluster).

What a real multi-machine cluster needs: every node runs the same install of this project (the
actors import ``ml``), and the model folder (``SI_MODEL_DIR``) is on storage every node mounts at
the same path; an actor that cannot see it stops the step with that message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

EXECUTORS = ("local", "ray")
# Texts per actor call: large enough to keep the encoder's batches full, small enough that both nodes get work
# on a few thousand texts; a multiple of every engine's own batch (32, 64), see _ray_map.
RAY_BATCH_ROWS = 256

# Which nodes served the last Ray call of this process (the step's metadata says it; the tests check it).
last_ray_nodes: set[str] = set()


# Class probabilities this close count as a tie: the first such class is the label.
TIE_TOLERANCE = 1e-6


def choose(probs: np.ndarray, tolerance: float = TIE_TOLERANCE) -> np.ndarray:
    """Each row's label index: the first class within ``tolerance`` of the row's best.

    Why not a plain argmax: a text with almost no signal gets near-equal probabilities, and the same
    model read in batches of another size differs in the ninth decimal; a plain argmax then flips
    between runs and machines. Ties broken by class order give the same label wherever it runs.
    """
    if not len(probs):
        return np.zeros(0, dtype=np.int64)
    return (probs >= probs.max(axis=1, keepdims=True) - tolerance).argmax(axis=1)


def predict_texts(model_dir: str | Path, texts: Sequence[str], device: str = "auto",
                  executor: str = "local") -> tuple[list[str], np.ndarray, np.ndarray]:
    """``ml.classifier.predict`` (labels, confidence, class probabilities), run where ``executor`` says."""
    from ml.classifier import model_labels, predict

    if not len(texts):
        return predict(model_dir, texts, device=device)
    if executor == "ray":
        probs = _ray_map(_PredictActor, {"model_dir": str(model_dir), "device": device}, texts)
    else:
        _, _, probs = predict(model_dir, texts, device=device)
    labels = model_labels(model_dir)
    return [labels[int(i)] for i in choose(probs)], probs.max(axis=1), probs


class RayEmbedder:
    """The ``ml.embeddings.Embedder`` protocol, each call read by the cluster's actors."""

    def __init__(self, model: str, device: str = "auto") -> None:
        from ml.embeddings import PACKAGED_ENGINES, make_embedder

        self.model, self.device = model, device
        if model in PACKAGED_ENGINES:  # a packaged engine loads in a second: it says its own name and width
            local = make_embedder(model)
            self.name, self.dim = local.name, local.dim
        else:  # a checkpoint's width is in its config: no weights loaded here
            from transformers import AutoConfig

            self.name, self.dim = f"hf:{Path(model).name}", int(AutoConfig.from_pretrained(model).hidden_size)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("passages", texts)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("queries", texts)

    def _embed(self, role: str, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        return _ray_map(_EmbedActor, {"model": self.model, "device": self.device, "role": role}, texts)


def _ray_map(actor: type, kwargs: dict, texts: Sequence[str]) -> np.ndarray:
    """One row of output per text, in order: each distinct text is sent once, the rows scattered back."""
    import ray

    from ml.embeddings import unique_texts

    texts = [t if isinstance(t, str) else "" for t in texts]
    distinct, inverse = unique_texts(texts)
    _connect()
    actors = _actor_count()
    # The same batches as a local read: the engines sort texts by length and read them in batches of 32 or
    # 64, so the texts go out in that order, cut into chunks of a multiple of those sizes, one chunk per
    # call. A text then meets the same neighbours (and padding) on a node as here, and its scores are the
    # same numbers, not the ninth-decimal (at times sixth) differences of other batch shapes.
    order = sorted(range(len(distinct)), key=lambda i: len(distinct[i]))
    cuts = [order[start:start + RAY_BATCH_ROWS] for start in range(0, len(order), RAY_BATCH_ROWS)]
    chunks = [{"rows": rows, "texts": [distinct[i] for i in rows]} for rows in cuts]
    dataset = ray.data.from_items(chunks, override_num_blocks=len(chunks))
    # One chunk in flight per actor, actors spread over the nodes: a fast model must not let the first
    # actor that is ready take every chunk while the others still load.
    pool = ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1)
    out = dataset.map_batches(_Chunked, fn_constructor_kwargs={"actor": actor, "kwargs": kwargs}, batch_size=1,
                              compute=pool, num_cpus=_cpus_per_actor(), scheduling_strategy="SPREAD").to_pandas()
    out = out.sort_values("row")
    if len(out) != len(distinct) or (out["row"].to_numpy() != np.arange(len(distinct))).any():
        raise RuntimeError(f"the Ray cluster returned {len(out)} rows for {len(distinct)} texts")
    last_ray_nodes.clear()
    last_ray_nodes.update(out["node"].unique().tolist())
    return np.vstack(out["vector"].to_numpy()).astype(np.float32)[inverse]


def _connect() -> None:
    import ray

    from service_insight.settings import get_settings

    if ray.is_initialized():
        return
    address = get_settings().ray_address or "auto"
    ray.init(address=address, log_to_driver=False, logging_level="WARNING",
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
                                       "TOKENIZERS_PARALLELISM": "false"}})
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    # Every actor of the pool loads its model before the first batch goes out (else the first one ready takes
    # all the work of a small job); a cluster that cannot place the pool fails the step after this long.
    context.wait_for_min_actors_s = 600


def _actor_count() -> int:
    import ray

    from service_insight.settings import get_settings

    configured = get_settings().ray_actors
    return configured if configured > 0 else max(1, sum(1 for n in ray.nodes() if n.get("Alive")))


def _cpus_per_actor() -> float:
    from service_insight.settings import get_settings

    return float(get_settings().ray_cpus_per_actor)


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


class _Chunked:
    """Runs a model actor on each chunk of a batch by itself (a chunk is one local read's worth of batches)."""

    def __init__(self, actor: type, kwargs: dict) -> None:
        self.model = actor(**kwargs)

    def __call__(self, batch: dict) -> dict:
        rows, vectors, nodes = [], [], []
        for chunk_rows, chunk_texts in zip(batch["rows"], batch["texts"]):
            out = self.model({"row": list(chunk_rows), "text": list(chunk_texts)})
            rows.extend(out["row"])
            vectors.extend(out["vector"])
            nodes.extend(out["node"])
        return {"row": rows, "vector": vectors, "node": nodes}


class _PredictActor:
    """Loads one classifier folder once; maps batches of texts to class probabilities."""

    def __init__(self, model_dir: str, device: str) -> None:
        if not Path(model_dir).exists():
            raise FileNotFoundError(f"model folder {model_dir} is not visible on this Ray node: SI_MODEL_DIR must be "
                                    "on storage every node mounts at the same path")
        from ml.classifier import warm_up

        self.model_dir, self.device, self.node = model_dir, device, _node_id()
        warm_up(model_dir, device)

    def __call__(self, batch: dict) -> dict:
        from ml.classifier import predict

        _, _, probs = predict(self.model_dir, [str(t) for t in batch["text"]], device=self.device)
        return {"row": batch["row"], "vector": list(probs), "node": [self.node] * len(batch["row"])}


class _EmbedActor:
    """Loads one sentence encoder once; maps batches of texts to passage or query vectors."""

    def __init__(self, model: str, device: str, role: str) -> None:
        from ml.embeddings import get_embedder

        self.encode = getattr(get_embedder(model, device), role)
        self.node = _node_id()

    def __call__(self, batch: dict) -> dict:
        vectors = self.encode([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": list(vectors), "node": [self.node] * len(batch["row"])}
