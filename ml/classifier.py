"""Text classification with transformers: the routine every labelled enrichment task shares.

A task's model is a transformers checkpoint directory. Two starting points:
- ``base`` is any Hugging Face checkpoint path the user configures (a bert-base-chinese, a
  MiniLM, one of ours): it is loaded with the Auto classes and fine-tuned;
- no base: a small BERT is built here, with a WordPiece vocabulary learnt from the task's own
  text (Chinese split into characters, so Chinese is never ``[UNK]``), and trained from scratch.
Either way the result is saved with ``save_pretrained`` and loads anywhere transformers runs
(except with ``pooling="mean"``: that head is our own class, registered with the Auto classes
when this module loads a model, so such a checkpoint loads through ``load_for_inference``).

The fine-tuning options in ``TrainConfig`` after ``device`` (pooling, warmup ratio, label
smoothing, layer-wise learning-rate decay, a separate head learning rate, keeping the best epoch)
default to the original behaviour; ``bench/quality.py`` shows what they buy on public data.

Inference sorts texts by length and pads each batch only to its longest member, under
``torch.inference_mode()``; on CUDA it runs in bf16 (fp16 where bf16 is missing).
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PACE_STEPS = 20  # steps timed before a time budget re-plans the schedule


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
    # Fine-tuning options; every default keeps the original behaviour.
    pooling: str = "cls"  # "mean": the head reads the mean of the last hidden states (BERT-family models only);
    # "mean_normalized": that mean scaled to unit length, as sentence-transformers models are used;
    # sentence-embedding checkpoints such as all-MiniLM were trained to be mean-pooled, so their [CLS] is raw
    warmup_ratio: float = 0.1  # share of the steps over which the learning rate climbs linearly, then decays to 0
    label_smoothing: float = 0.0
    class_balance: float = 0.0  # loss weight of a class ~ (1 / its share of the training set) ** this; 1 = balanced
    layer_lr_decay: float = 1.0  # below 1: each layer under the top learns this much slower, embeddings slowest
    head_learning_rate: float | None = None  # the freshly initialised head; None: the body's learning rate
    weight_decay: float = 0.01
    keep_best: bool = False  # score the eval set after every epoch and keep the epoch with the best macro-F1
    freeze_embeddings: bool = False  # leave the word embeddings as they are (fewer weights to update per step)
    cpu_bf16: bool = False  # train in bf16 autocast on a CPU with native bf16 (AVX512-BF16, AMX): about 1.5-2x faster
    # "linear_probe": before fine-tuning, fit a logistic regression on the frozen encoder's pooled features and start
    # the head from it (LP-FT), so fine-tuning starts from the frozen baseline instead of a random head that first
    # drags the pretrained features around; only with a base checkpoint and mean pooling
    head_init: str = "random"
    probe_c: float = 10.0  # inverse regularisation of that logistic regression
    max_seconds: float | None = None  # stop after the batch that passes this many seconds (a time budget)


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


def _autocast_dtype(device: torch.device, training: bool = False, cpu_bf16: bool = False) -> torch.dtype | None:
    """bf16 where the GPU has it natively; fp16 for inference only; fp32 otherwise and on CPU
    (bf16 on a CPU with native bf16 when ``cpu_bf16`` asks for it)."""
    if device.type == "cpu" and cpu_bf16:
        native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
        return torch.bfloat16 if native() else None
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

    if cfg.pooling in ("mean", "mean_normalized"):
        BertConfig, BertForSequenceClassification = _mean_pooling_classes()  # noqa: N806
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, intermediate_size=cfg.hidden_size * 4,
        max_position_embeddings=max(128, cfg.max_length + 2), num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertForSequenceClassification(config)


_MEAN_POOLING: tuple = ()


def _mean_pooling_classes():
    """(config class, model class) of BERT with a mean-pooling head, registered with the Auto classes.

    Built on first use so importing this module stays light; registered under its own
    ``model_type`` so that a loader that does not know it fails loudly instead of silently
    reading [CLS] through a head trained on the mean.
    """
    global _MEAN_POOLING
    if _MEAN_POOLING:
        return _MEAN_POOLING
    from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification
    from transformers.modeling_outputs import SequenceClassifierOutput

    class MeanPoolBertConfig(BertConfig):
        model_type = "si-bert-mean-pool"

    class MeanPoolBertForSequenceClassification(BertForSequenceClassification):
        """BERT whose classifier reads the mean of the last hidden states over real (unpadded) tokens."""

        config_class = MeanPoolBertConfig

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            if attention_mask is None:
                attention_mask = torch.ones(hidden.shape[:2], device=hidden.device)
            hidden, mask = hidden.float(), attention_mask.unsqueeze(-1).float()  # the mean in fp32 under autocast
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            if getattr(self.config, "si_normalize_pooled", False):
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            logits = self.classifier(self.dropout(pooled))
            loss = None
            if labels is not None:
                loss = torch.nn.functional.cross_entropy(logits.float().view(-1, self.num_labels), labels.view(-1))
            return SequenceClassifierOutput(loss=loss, logits=logits)

    AutoConfig.register(MeanPoolBertConfig.model_type, MeanPoolBertConfig, exist_ok=True)
    AutoModelForSequenceClassification.register(MeanPoolBertConfig, MeanPoolBertForSequenceClassification,
                                                exist_ok=True)
    _MEAN_POOLING = (MeanPoolBertConfig, MeanPoolBertForSequenceClassification)
    return _MEAN_POOLING


def _is_mean_pooling_checkpoint(path: str | Path) -> bool:
    config = Path(path) / "config.json"
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "si-bert-mean-pool"
    except (OSError, ValueError):
        return False


def load_base(base: str | Path, labels: list[str], pooling: str = "cls"):
    """Any Hugging Face checkpoint directory, with a fresh head sized for ``labels``.

    ``pooling="mean"`` puts a mean-pooling head on a BERT-family checkpoint (see ``TrainConfig``).
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, BertConfig

    if pooling not in ("cls", "mean", "mean_normalized"):
        raise ValueError(f"pooling must be 'cls', 'mean' or 'mean_normalized', not {pooling!r}")
    if _is_mean_pooling_checkpoint(base):
        _mean_pooling_classes()  # a mean-pooled checkpoint fine-tuned again keeps its head
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if tokenizer.pad_token is None:  # decoder-style checkpoints ship without one
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if pooling in ("mean", "mean_normalized"):
        config_class, model_class = _mean_pooling_classes()
        base_config = AutoConfig.from_pretrained(str(base))
        if not isinstance(base_config, BertConfig):
            raise ValueError(f"pooling='mean' needs a BERT-family checkpoint; {base} is a "
                             f"{base_config.model_type!r} model (use pooling='cls')")
        config = config_class.from_dict({k: v for k, v in base_config.to_dict().items() if k != "model_type"})
        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
        config.problem_type = "single_label_classification"
        config.si_normalize_pooled = pooling == "mean_normalized"
        model = model_class.from_pretrained(str(base), config=config, ignore_mismatched_sizes=True)
        model.config.pad_token_id = tokenizer.pad_token_id
        return tokenizer, model
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, ignore_mismatched_sizes=True,
        problem_type="single_label_classification")  # a multi-label or regression base would change the loss
    model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model


def _param_groups(model, lr: float, cfg: TrainConfig) -> list[dict]:
    """Layer-wise learning rates: the head at ``head_learning_rate`` (or ``lr``), the top layer at ``lr``,
    each layer below ``layer_lr_decay`` times the one above, the embeddings lowest."""
    layer_of = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")
    prefix = f"{model.base_model_prefix}."
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    found = [int(m.group(1)) for n, _ in named if (m := layer_of.search(n))]
    top = (max(found) + 2) if found else 1  # embeddings 0, layer i at i + 1, pooler and the like at top
    groups: dict[float, list] = {}
    for name, param in named:
        if not name.startswith(prefix):  # the task head (classifier, score)
            rate = cfg.head_learning_rate or lr
        elif m := layer_of.search(name):
            rate = lr * cfg.layer_lr_decay ** (top - 1 - int(m.group(1)))
        elif "embed" in name:
            rate = lr * cfg.layer_lr_decay ** top
        else:
            rate = lr
        groups.setdefault(rate, []).append(param)
    return [{"params": params, "lr": rate} for rate, params in groups.items()]


def _linear_probe_head(model, tokenizer, encoded: list, targets: torch.Tensor, n_labels: int,
                       cfg: TrainConfig) -> dict:
    """Fit a logistic regression on the frozen pooled features and copy it into the head (the LP of LP-FT)."""
    from sklearn.linear_model import LogisticRegression

    if not getattr(model.config, "model_type", "") == "si-bert-mean-pool":
        raise ValueError("head_init='linear_probe' needs a base checkpoint with pooling 'mean' or 'mean_normalized'")
    started = time.perf_counter()
    dev = next(model.parameters()).device
    features = np.zeros((len(encoded), model.config.hidden_size), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for batch in _length_batches([len(e) for e in encoded], 128):
            padded = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt").to(dev)
            hidden = model.bert(**padded).last_hidden_state.float()
            mask = padded["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            if getattr(model.config, "si_normalize_pooled", False):
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            features[batch] = pooled.cpu().numpy()
    y = targets.numpy()
    probe = LogisticRegression(C=cfg.probe_c, max_iter=3000).fit(features, y)
    weight = np.zeros((n_labels, features.shape[1]), dtype=np.float32)
    bias = np.full(n_labels, -30.0, dtype=np.float32)  # a label only the eval set has stays unlikely
    if len(probe.classes_) == 2:  # scikit-learn keeps one row for two classes: logits of +-half of it
        for sign, cls in ((-0.5, probe.classes_[0]), (0.5, probe.classes_[1])):
            weight[cls], bias[cls] = sign * probe.coef_[0], sign * probe.intercept_[0]
    else:
        weight[probe.classes_], bias[probe.classes_] = probe.coef_, probe.intercept_
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(weight))
        model.classifier.bias.copy_(torch.from_numpy(bias))
    return {"probe_train_accuracy": round(float(probe.score(features, y)), 4),
            "probe_seconds": round(time.perf_counter() - started, 1)}


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
        tokenizer, model = load_base(base, labels, cfg.pooling)
        lr = cfg.base_learning_rate
    else:
        tokenizer = build_tokenizer(list(train_texts), cfg.vocab_size)
        model = new_small_bert(tokenizer, labels, cfg)
        lr = cfg.learning_rate
    device = pick_device(cfg.device)
    model.to(device)
    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    encoded = tokenizer(list(train_texts), truncation=True, max_length=cfg.max_length)["input_ids"]
    targets = torch.tensor([label_id[y] for y in train_labels])
    probe: dict = {}
    if cfg.head_init == "linear_probe":
        probe = _linear_probe_head(model, tokenizer, encoded, targets, len(labels), cfg)
    elif cfg.head_init != "random":
        raise ValueError(f"head_init must be 'random' or 'linear_probe', not {cfg.head_init!r}")
    batches_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    epochs = cfg.epochs if base else max(cfg.epochs, math.ceil(cfg.min_steps / max(1, batches_per_epoch)))
    total_steps = max(1, batches_per_epoch * epochs)
    if cfg.layer_lr_decay != 1.0 or cfg.head_learning_rate is not None:
        optimizer = torch.optim.AdamW(_param_groups(model, lr, cfg), lr=lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                      weight_decay=cfg.weight_decay)
    warmup = max(1, math.floor(total_steps * cfg.warmup_ratio + 1e-9))
    # With a time budget the schedule is re-planned once the speed is known (after PACE_STEPS steps): the
    # learning rate then decays to zero by the last step that fits, instead of stopping at a high rate.
    plan = {"total": total_steps}
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (plan["total"] - step) / (plan["total"] - warmup + 1))))
    class_weight = None
    if cfg.class_balance:
        counts = torch.bincount(targets, minlength=len(labels)).clamp(min=1).float()
        class_weight = (len(targets) / (len(labels) * counts)) ** cfg.class_balance
        class_weight = (class_weight / (class_weight * counts).sum() * counts.sum()).to(device)  # mean weight 1
    dtype = _autocast_dtype(device, training=True, cpu_bf16=cfg.cpu_bf16)
    best: tuple[float, int, dict] | None = None  # (macro-F1, epoch, weights) with keep_best
    history: list[dict] = []
    step, stopped_at, loop_started = 0, None, time.perf_counter()
    for epoch in range(1, epochs + 1):
        if stopped_at is not None:
            break
        model.train()
        for batch in _length_batches([len(e) for e in encoded], cfg.batch_size, rng):
            if cfg.max_seconds is not None and (time.perf_counter() - started > cfg.max_seconds
                                                or step >= plan["total"]):
                stopped_at = step
                break
            if cfg.max_seconds is not None and step == PACE_STEPS:
                per_step = (time.perf_counter() - loop_started) / PACE_STEPS
                fits = int((cfg.max_seconds - (time.perf_counter() - started)) * 0.9 / per_step) + step
                plan["total"] = max(warmup + 1, min(total_steps, fits))
            step += 1
            padded = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in padded.items()}
            batch_targets = targets[batch].to(device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                if cfg.label_smoothing or class_weight is not None:
                    logits = model(**inputs).logits
                    loss = torch.nn.functional.cross_entropy(logits.float(), batch_targets, weight=class_weight,
                                                             label_smoothing=cfg.label_smoothing)
                else:
                    loss = model(**inputs, labels=batch_targets).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        if cfg.keep_best and len(eval_texts):
            model.eval()
            predicted, _, _ = predict(out_dir, eval_texts, max_length=cfg.max_length, _loaded=(tokenizer, model))
            score = evaluate(list(eval_labels), predicted, labels)
            history.append({"epoch": epoch, "accuracy": score["accuracy"], "macro_f1": score["macro_f1"]})
            if best is None or score["macro_f1"] > best[0]:
                best = (score["macro_f1"], epoch, copy.deepcopy(model.state_dict()))
    if best is not None and best[1] != epochs:
        model.load_state_dict(best[2])
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    metrics: dict = {"train_examples": len(train_texts), "labels": len(labels), "epochs": epochs}
    if best is not None:
        metrics.update(best_epoch=best[1], per_epoch=history)
    if stopped_at is not None:
        metrics.update(stopped_at_step=stopped_at, planned_steps=total_steps, budget_steps=plan["total"])
    metrics.update(probe)
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
        if _is_mean_pooling_checkpoint(model_dir):
            _mean_pooling_classes()
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).to(dev).eval()
        _MODEL_CACHE[key] = (tokenizer, model)
    return _MODEL_CACHE[key]


def predict(model_dir: str | Path, texts: Sequence[str], batch_size: int = 64, max_length: int = 128,
            device: str = "auto", _loaded: tuple | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(labels, confidence, class probabilities) for ``texts``, in the order given.

    A folder written by ``ml.text_models`` (any candidate) is read through it, with its calibration;
    any other folder is a transformers checkpoint.
    """
    from ml.embeddings import unique_texts

    texts = [t if isinstance(t, str) else "" for t in texts]
    distinct, inverse = unique_texts(texts)
    if len(distinct) < len(texts):  # each distinct text is read once (see unique_texts), rows scattered back
        labels, confidence, probs = predict(model_dir, distinct, batch_size, max_length, device, _loaded)
        return [labels[i] for i in inverse], confidence[inverse], probs[inverse]
    if _loaded is None:
        from ml.text_models import is_text_model, predict_text_model

        if is_text_model(model_dir):
            return predict_text_model(model_dir, texts, device)
    return predict_checkpoint(model_dir, texts, batch_size, max_length, device, _loaded)


def warm_up(model_dir: str | Path, device: str = "auto") -> None:
    """Load a model folder (and the encoder it reads through) before the first real request."""
    predict(model_dir, ["warm up"], device=device)


def model_labels(model_dir: str | Path) -> list[str]:
    """The label of each probability column ``predict`` returns for this model folder."""
    from ml.text_models import MODEL_FILE

    card = Path(model_dir) / MODEL_FILE
    if card.exists():
        return json.loads(card.read_text(encoding="utf-8"))["labels"]
    return model_labels_of_checkpoint(model_dir)


def model_labels_of_checkpoint(model_dir: str | Path) -> list[str]:
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    return [config["id2label"][str(i)] for i in range(len(config["id2label"]))]


def predict_checkpoint(model_dir: str | Path, texts: Sequence[str], batch_size: int = 64, max_length: int = 128,
                       device: str = "auto", _loaded: tuple | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``predict`` for a transformers checkpoint folder (its own label order)."""
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
