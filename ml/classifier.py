"""Text classification with transformers: the routine every labelled enrichment task shares.

A task's model is a transformers checkpoint directory. Two starting points:
- ``base`` is any Hugging Face checkpoint path the user configures (a bert-base-chinese, a
  MiniLM, one of ours): it is loaded with the Auto classes and fine-tuned;
- no base: a small BERT is built here, with a WordPiece vocabulary learnt from the task's own
  text (Chinese split into characters, so Chinese is never ``[UNK]``), and trained from scratch.
Either way the result is saved with ``save_pretrained`` and loads anywhere transformers runs.

Inference sorts texts by length and pads each batch only to its longest member, under
``torch.inference_mode()``; on CUDA it runs in bf16 (fp16 where bf16 is missing).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    min_steps: int = 500  # from scratch, small labelled sets get more epochs (a pretrained base does not)
    batch_size: int = 32
    learning_rate: float = 1e-3  # from scratch; fine-tuning a pretrained base uses base_learning_rate
    base_learning_rate: float = 5e-5
    max_length: int = 128  # the same cut at training, evaluation and serving
    vocab_size: int = 6000
    hidden_size: int = 128
    layers: int = 2
    heads: int = 4
    seed: int = 13
    device: str = "auto"


@dataclass
class TrainResult:
    path: Path
    labels: list[str]
    metrics: dict
    seconds: float
    base: str | None
    config: dict = field(default_factory=dict)
    eval_confidence: np.ndarray | None = None  # held-out confidences, for calibrating thresholds
    eval_correct: np.ndarray | None = None


def pick_device(requested: str = "auto") -> torch.device:
    if requested != "auto":
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _autocast_dtype(device: torch.device, training: bool = False) -> torch.dtype | None:
    """bf16 where the GPU has it natively; fp16 for inference only; fp32 otherwise and on CPU."""
    if device.type != "cuda":
        return None
    with torch.cuda.device(device):
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return torch.bfloat16
    return None if training else torch.float16


def build_tokenizer(texts: Sequence[str], vocab_size: int = 6000):
    """A BERT-style WordPiece tokenizer learnt from ``texts`` (lower-cased, CJK per character)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIAL_TOKENS)
    tok.train_from_iterator(texts, trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)


def new_small_bert(tokenizer, labels: list[str], cfg: TrainConfig):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, intermediate_size=cfg.hidden_size * 4,
        max_position_embeddings=max(128, cfg.max_length + 2), num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertForSequenceClassification(config)


def load_base(base: str | Path, labels: list[str]):
    """Any Hugging Face checkpoint directory, with a fresh head sized for ``labels``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if tokenizer.pad_token is None:  # decoder-style checkpoints ship without one
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, ignore_mismatched_sizes=True,
        problem_type="single_label_classification")  # a multi-label or regression base would change the loss
    model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model


def _length_batches(lengths: Sequence[int], batch_size: int, shuffle: random.Random | None = None):
    """Index batches of similar length (less padding); shuffled batch order when training."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle is not None:
        shuffle.shuffle(batches)
    return batches


def train_text_classifier(train_texts: Sequence[str], train_labels: Sequence[str], out_dir: Path,
                          eval_texts: Sequence[str] = (), eval_labels: Sequence[str] = (),
                          base: str | Path | None = None, cfg: TrainConfig = TrainConfig()) -> TrainResult:
    """Train (or fine-tune ``base``), save to ``out_dir`` and evaluate on the eval set if given."""
    started = time.perf_counter()
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    labels = sorted(set(train_labels) | set(eval_labels))
    label_id = {label: i for i, label in enumerate(labels)}
    if base:
        tokenizer, model = load_base(base, labels)
        lr = cfg.base_learning_rate
    else:
        tokenizer = build_tokenizer(list(train_texts), cfg.vocab_size)
        model = new_small_bert(tokenizer, labels, cfg)
        lr = cfg.learning_rate
    device = pick_device(cfg.device)
    model.to(device)
    encoded = tokenizer(list(train_texts), truncation=True, max_length=cfg.max_length)["input_ids"]
    targets = torch.tensor([label_id[y] for y in train_labels])
    batches_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    epochs = cfg.epochs if base else max(cfg.epochs, math.ceil(cfg.min_steps / max(1, batches_per_epoch)))
    total_steps = max(1, batches_per_epoch * epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, total_steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup + 1))))
    dtype = _autocast_dtype(device, training=True)
    model.train()
    for _ in range(epochs):
        for batch in _length_batches([len(e) for e in encoded], cfg.batch_size, rng):
            padded = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in padded.items()}
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(**inputs, labels=targets[batch].to(device))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    metrics: dict = {"train_examples": len(train_texts), "labels": len(labels), "epochs": epochs}
    result = TrainResult(out_dir, labels, metrics, 0.0, str(base) if base else None, asdict(cfg))
    if len(eval_texts):
        predicted, confidence, _ = predict(out_dir, eval_texts, max_length=cfg.max_length,
                                           _loaded=(tokenizer, model))
        metrics.update(evaluate(list(eval_labels), predicted, labels))
        result.eval_confidence = confidence
        result.eval_correct = np.array([p == y for p, y in zip(predicted, eval_labels)])
    result.seconds = round(time.perf_counter() - started, 2)
    write_training_card(result)
    return result


def write_training_card(result: TrainResult) -> None:
    """training.json beside the checkpoint, so the directory alone says how it was made."""
    (result.path / "training.json").write_text(json.dumps(
        {"labels": result.labels, "metrics": result.metrics, "seconds": result.seconds, "base": result.base,
         "config": result.config}, indent=2, ensure_ascii=False, default=float))


_MODEL_CACHE: dict[tuple[str, str], tuple] = {}


def load_for_inference(model_dir: str | Path, device: str = "auto"):
    """Tokenizer and model from a checkpoint directory, loaded once per process."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dev = pick_device(device)
    key = (str(Path(model_dir).resolve()), str(dev))
    if key not in _MODEL_CACHE:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).to(dev).eval()
        _MODEL_CACHE[key] = (tokenizer, model)
    return _MODEL_CACHE[key]


def predict(model_dir: str | Path, texts: Sequence[str], batch_size: int = 64, max_length: int = 128,
            device: str = "auto", _loaded: tuple | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(labels, confidence, class probabilities) for ``texts``, in the order given."""
    tokenizer, model = _loaded or load_for_inference(model_dir, device)
    dev = next(model.parameters()).device
    dtype = _autocast_dtype(dev)
    texts = [t if isinstance(t, str) else "" for t in texts]
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    lengths = [len(t) for t in texts]
    with torch.inference_mode():
        for batch in _length_batches(lengths, batch_size):
            enc = tokenizer([texts[i] for i in batch], truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt").to(dev)
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                logits = model(**enc).logits
            probs[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    id2label = model.config.id2label
    best = probs.argmax(axis=1) if len(texts) else np.array([], dtype=int)
    return [id2label[int(i)] for i in best], probs.max(axis=1) if len(texts) else np.array([]), probs


def evaluate(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1, a per-class report and the confusion matrix (as plain JSON types)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(labels)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), 4),
        "eval_examples": len(y_true),
        "per_class": [{"label": label, "precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                       "f1": round(float(f[i]), 4), "support": int(s[i])} for i, label in enumerate(labels)],
        "confusion": {"labels": labels, "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
    }
