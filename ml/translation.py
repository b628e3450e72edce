"""Machine translation into the pivot language, so analytics can read every turn in one language.

The model is a transformers seq2seq checkpoint directory. Two sources:
- a user-configured checkpoint (an opus-mt, an NLLB, one of ours): loaded with the Auto classes
  and used as it is, no training;
- otherwise a small ``MarianMTModel`` is trained here from scratch on the warehouse's translation
  memory (and any Tatoeba-format files configured). One shared vocabulary covers every language
  (BPE, Chinese split per character, byte fallback so nothing is ``<unk>``), and the target
  language is a tag token ``>>xx<<`` at the start of the source, the opus-mt multi-target
  convention: one model translates every direction it was trained on.

Versions are registered in ``ml.ml_model_runs`` (task ``translation``) with BLEU/chrF per
direction; ``ml.translation_quality`` says per language pair whether the translations are good
enough to read (chrF above a threshold) — where they are not, analytics should compare turns with
cross-lingual embeddings instead. ``ml.turn_translations`` holds one row per turn and model
version, written incrementally.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import duckdb
import torch

from ml.classifier import TrainResult, _autocast_dtype, _length_batches, pick_device, write_training_card
from ml.language import DEFAULT_LANGUAGES, UNDETERMINED, detect_languages
from ml.registry import ensure_tables, new_version, register

TASK = "translation"
PIVOT = "en"
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
MIN_TRAIN_PAIRS = 20
DEFAULT_MIN_CHRF = 40.0  # below this a translation misleads more than it helps (chrF 0-100)
PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")  # what PII masking leaves in the text: must survive translation
_CJK_CHAR = r"▁?[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]"

# How other checkpoint families name a language: opus-mt tags (2- or 3-letter), NLLB and mBART-50
# codes, M2M-100 tokens. Looked up in the checkpoint's own vocabulary.
_OPUS_TAGS = {"zh": ["zh", "cmn_Hans", "zho_Hans", "cmn", "zho"], "en": ["en", "eng"], "es": ["es", "spa"],
              "fr": ["fr", "fra"], "de": ["de", "deu"]}
_LANG_CODES = {"zh": ["zho_Hans", "zh_CN", "__zh__"], "en": ["eng_Latn", "en_XX", "__en__"],
               "es": ["spa_Latn", "es_XX", "__es__"], "fr": ["fra_Latn", "fr_XX", "__fr__"],
               "de": ["deu_Latn", "de_DE", "__de__"]}


class Pair(NamedTuple):
    """One parallel example: ``src_text`` in ``src_lang`` translates to ``tgt_text`` in ``tgt_lang``."""

    src_lang: str
    src_text: str
    tgt_lang: str
    tgt_text: str


@dataclass(frozen=True)
class TranslationConfig:
    """Model size and training budget; training stops at whichever budget runs out first.

    Sized for minutes of CPU: at this budget a smaller model that sees more examples beats a
    larger one that sees fewer (measured on Tatoeba zh-en, 5 minutes on one busy core: d_model 128
    with 2+2 layers ahead of 192/3+3 and 256/3+3). The learning rate decays linearly to zero over
    the budget, elapsed time included, so a slow machine still ends on a low learning rate
    instead of being cut off mid-run (the price: a time-limited run is not bit-reproducible).
    A GPU, or a longer ``max_seconds``, is what buys real quality; a user checkpoint more so.
    """

    d_model: int = 128
    encoder_layers: int = 2
    decoder_layers: int = 2
    heads: int = 4
    ffn_dim: int = 512
    dropout: float = 0.0  # regularisers slow a minutes-long training down more than they help it (measured)
    vocab_size: int = 6000
    max_length: int = 64  # tokens, at training and serving
    batch_size: int = 32  # more updates beat bigger batches when the budget is a few CPU minutes
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    label_smoothing: float = 0.0
    max_steps: int = 20000
    max_epochs: int = 40
    max_seconds: float = 300.0
    eval_pairs_per_direction: int = 300
    num_beams: int = 1
    seed: int = 13
    device: str = "auto"
    threads: int = 0  # CPU threads for training; 0 = torch's default (all cores)

    def budget_fingerprint(self) -> dict:
        """What changes the trained model (the device and thread count do not)."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "threads")}


@contextmanager
def torch_threads(threads: int):
    """Run with ``threads`` CPU threads (0: leave as is), then restore.

    Why: on a CPU shared with other jobs, torch's default of one OpenMP thread per core makes
    every thread wait for the busiest core: measured 10-20x slower than a single thread on two
    cores under load.
    """
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def lang_tag(lang: str) -> str:
    return f">>{lang}<<"


# --------------------------------------------------------------------------------------------- model

def build_tokenizer(texts: Iterable[str], vocab_size: int = 6000, languages: Sequence[str] = DEFAULT_LANGUAGES,
                    target_tags: bool = True):
    """One BPE vocabulary for all languages, with ``>>xx<<`` target tags as special tokens.

    Chinese is split into characters before BPE (no spaces to learn words from); byte-fallback
    tokens cover any character the training text lacked, so nothing is ``<unk>`` and decoding is
    lossless. Case and punctuation are kept: they are part of a translation.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import trainers
    from transformers import PreTrainedTokenizerFast

    tags = [AddedToken(lang_tag(lang), special=True, rstrip=True, normalized=False) for lang in languages]
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
        pre_tokenizers.Split(Regex(_CJK_CHAR), behavior="isolated")])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=[PAD, EOS, UNK, *(tags if target_tags else [])])
    tok.train_from_iterator(texts, trainer)
    # Rebuild the model with the 256 byte tokens appended, so unseen characters fall back to bytes.
    state = json.loads(tok.to_str())["model"]
    vocab = dict(state["vocab"])
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["merges"]]
    tok.model = models.BPE(vocab=vocab, merges=merges, unk_token=UNK, byte_fallback=True)
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁",
                                                                                  prepend_scheme="always")])
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, tok.token_to_id(EOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   model_max_length=512)


def new_marian(tokenizer, cfg: TranslationConfig):
    """A small Marian transformer sized by ``cfg``, with shared (tied) embeddings."""
    from transformers import MarianConfig, MarianMTModel

    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    config = MarianConfig(
        vocab_size=len(tokenizer), d_model=cfg.d_model, encoder_layers=cfg.encoder_layers,
        decoder_layers=cfg.decoder_layers, encoder_attention_heads=cfg.heads, decoder_attention_heads=cfg.heads,
        encoder_ffn_dim=cfg.ffn_dim, decoder_ffn_dim=cfg.ffn_dim, dropout=cfg.dropout, attention_dropout=0.0,
        activation_function="gelu", max_position_embeddings=max(256, cfg.max_length * 2), scale_embedding=True,
        pad_token_id=pad, eos_token_id=eos, forced_eos_token_id=eos, decoder_start_token_id=pad,
        share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
    )
    model = MarianMTModel(config)
    # fairseq's initialisation: with scaled embeddings, std d_model**-0.5 gives tokens the same
    # magnitude as the sinusoidal positions. transformers' 0.02 leaves tokens ~3x weaker than
    # positions at d_model 128, and a short training then never learns to read the source.
    with torch.no_grad():
        shared = model.get_input_embeddings().weight
        shared.normal_(0.0, cfg.d_model ** -0.5)
        shared[pad].zero_()
    gen = model.generation_config
    gen.decoder_start_token_id, gen.eos_token_id, gen.pad_token_id = pad, eos, pad
    gen.forced_eos_token_id, gen.num_beams, gen.max_length = eos, cfg.num_beams, cfg.max_length * 2 + 10
    gen.bad_words_ids = [[pad]]  # never emit padding mid-sentence (the opus-mt setting)
    gen.no_repeat_ngram_size = 3  # a small model's typical failure is a loop ("to to to ..."): cut it short
    return model


def _source_text(pair: Pair, target_tags: bool) -> str:
    return f"{lang_tag(pair.tgt_lang)} {pair.src_text}" if target_tags else pair.src_text


def train_translation_model(pairs: Sequence[Pair | tuple], out_dir: Path, eval_pairs: Sequence[Pair | tuple] = (),
                            cfg: TranslationConfig = TranslationConfig(), target_tags: bool = True) -> TrainResult:
    """Train a Marian model from scratch on ``pairs``, save it to ``out_dir``, evaluate on ``eval_pairs``.

    ``target_tags=False`` trains an opus-mt-style single-target model (no ``>>xx<<`` tags): only
    sensible when every pair has the same target language.
    """
    with torch_threads(cfg.threads):
        return _train(pairs, out_dir, eval_pairs, cfg, target_tags)


def _train(pairs, out_dir: Path, eval_pairs, cfg: TranslationConfig, target_tags: bool) -> TrainResult:
    started = time.perf_counter()
    pairs = [Pair(*p) for p in pairs]
    if not pairs:
        raise ValueError("no parallel pairs to train a translation model on")
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    languages = sorted({p.src_lang for p in pairs} | {p.tgt_lang for p in pairs})
    tokenizer = build_tokenizer(sorted({t for p in pairs for t in (p.src_text, p.tgt_text)}), cfg.vocab_size,
                                languages, target_tags)
    model = new_marian(tokenizer, cfg)
    device = pick_device(cfg.device)
    model.to(device)
    sources = tokenizer([_source_text(p, target_tags) for p in pairs], truncation=True,
                        max_length=cfg.max_length)["input_ids"]
    targets = tokenizer(text_target=[p.tgt_text for p in pairs], truncation=True,
                        max_length=cfg.max_length)["input_ids"]
    batches_per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    total_steps = max(1, min(cfg.max_steps, cfg.max_epochs * batches_per_epoch))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.98), weight_decay=0.01)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=cfg.label_smoothing)
    dtype = _autocast_dtype(device, training=True)
    pad = tokenizer.pad_token_id
    step, epoch, loss_value = 0, 0, float("nan")
    train_started = time.perf_counter()
    progress = 0.0
    model.train()
    while progress < 1.0:
        epoch += 1
        for batch in _length_batches([len(sources[i]) + len(targets[i]) for i in range(len(pairs))],
                                     cfg.batch_size, rng):
            progress = max(step / total_steps, (time.perf_counter() - train_started) / cfg.max_seconds)
            if progress >= 1.0:
                break
            lr = cfg.learning_rate * min(1.0, (step + 1) / cfg.warmup_steps) * (1.0 - progress)
            for group in optimizer.param_groups:
                group["lr"] = lr
            src = tokenizer.pad({"input_ids": [sources[i] for i in batch]}, return_tensors="pt").to(device)
            labels = _pad_labels([targets[i] for i in batch], -100).to(device)
            decoder_input = _shift_right(labels, pad)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(**src, decoder_input_ids=decoder_input).logits
            loss = loss_fn(logits.float().view(-1, logits.size(-1)), labels.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = float(loss.detach())
    train_seconds = round(time.perf_counter() - train_started, 2)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    directions = sorted({f"{p.src_lang}-{p.tgt_lang}" for p in pairs})
    metrics: dict = {"train_examples": len(pairs), "steps": step, "epochs": round(step / batches_per_epoch, 2),
                     "train_seconds": train_seconds, "final_loss": round(loss_value, 4),
                     "parameters": sum(p.numel() for p in model.parameters()), "trained_directions": directions}
    if eval_pairs:
        scores = evaluate_model(out_dir, eval_pairs, cfg.eval_pairs_per_direction, cfg.num_beams,
                                _loaded=(tokenizer, model))
        metrics["directions"] = scores
        metrics["eval_examples"] = sum(s["pairs"] for s in scores.values())
    result = TrainResult(out_dir, languages, metrics, round(time.perf_counter() - started, 2), None,
                         {**asdict(cfg), "target_tags": target_tags})
    write_training_card(result)
    return result


def _pad_labels(sequences: list[list[int]], value: int) -> torch.Tensor:
    longest = max(len(s) for s in sequences)
    return torch.tensor([s + [value] * (longest - len(s)) for s in sequences])


def _shift_right(labels: torch.Tensor, start: int) -> torch.Tensor:
    """Decoder inputs: the labels one step late, starting with the pad token (Marian's start token)."""
    shifted = labels.new_full(labels.shape, start)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, start)


# ----------------------------------------------------------------------------------------- inference

_MODEL_CACHE: dict[tuple[str, str], tuple] = {}


def resolve_checkpoint(model_dir: str | Path) -> Path:
    """The directory holding the weights: ``model_dir`` itself, or the user checkpoint it points to."""
    model_dir = Path(model_dir)
    card = model_dir / "training.json"
    if not (model_dir / "config.json").exists() and card.exists():
        base = json.loads(card.read_text()).get("base")
        if base:
            return Path(base)
    return model_dir


def load_translation_model(model_dir: str | Path, device: str = "auto"):
    """Tokenizer and seq2seq model from any Hugging Face checkpoint directory, loaded once per process."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    path = resolve_checkpoint(model_dir)
    dev = pick_device(device)
    key = (str(path.resolve()), str(dev))
    if key not in _MODEL_CACHE:
        if len(_MODEL_CACHE) >= 4:  # a long-lived process that saw many versions keeps the recent ones
            _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForSeq2SeqLM.from_pretrained(str(path)).to(dev).eval()
        _MODEL_CACHE[key] = (tokenizer, model)
    return _MODEL_CACHE[key]


def _vocab_token(tokenizer, candidates: Sequence[str]) -> str | None:
    vocab = tokenizer.get_vocab()
    return next((c for c in candidates if c in vocab), None)


def target_prefix(tokenizer, lang: str) -> str:
    """``">>xx<< "`` when the checkpoint's vocabulary has a target tag for ``lang`` (ours, opus-mt), else ``""``."""
    tag = _vocab_token(tokenizer, [lang_tag(c) for c in _OPUS_TAGS.get(lang, [lang])])
    return f"{tag} " if tag else ""


def language_code(tokenizer, lang: str) -> str | None:
    """The NLLB / mBART / M2M-100 code token for ``lang`` in this checkpoint's vocabulary, if any."""
    return _vocab_token(tokenizer, _LANG_CODES.get(lang, []))


def translate(texts: Sequence[str | None], src_langs: str | Sequence[str], tgt_lang: str, model_dir: str | Path,
              batch_size: int = 32, num_beams: int = 1, max_length: int = 128, device: str = "auto",
              _loaded: tuple | None = None) -> list[str]:
    """Translate ``texts`` (in ``src_langs``, one per text or one for all) into ``tgt_lang``, in order.

    Texts already in ``tgt_lang``, or blank, come back unchanged; identical texts are translated
    once. Masking placeholders missing from a translation are appended, so no masked item is lost.
    """
    texts = ["" if t is None else str(t) for t in texts]
    langs = [src_langs] * len(texts) if isinstance(src_langs, str) else list(src_langs)
    if len(langs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(langs)} source languages")
    out = list(texts)
    groups: dict[str, dict[str, list[int]]] = {}  # source language -> text -> positions
    for i, (text, lang) in enumerate(zip(texts, langs)):
        if lang != tgt_lang and text.strip():
            groups.setdefault(lang, {}).setdefault(text, []).append(i)
    if not groups:
        return out
    tokenizer, model = _loaded or load_translation_model(model_dir, device)
    dev = next(model.parameters()).device
    dtype = _autocast_dtype(dev)
    prefix = target_prefix(tokenizer, tgt_lang)
    forced = {}
    tgt_code = language_code(tokenizer, tgt_lang)
    if tgt_code and not prefix:
        forced["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(tgt_code)
    limit = min(max_length, getattr(model.config, "max_position_embeddings", max_length) or max_length)
    for lang, by_text in groups.items():
        src_code = language_code(tokenizer, lang)
        if src_code and hasattr(tokenizer, "src_lang"):
            # NLLB/mBART take the code itself, M2M-100 the bare language ("zh" for "__zh__").
            tokenizer.src_lang = src_code.strip("_") if src_code.startswith("__") else src_code
        unique = list(by_text)
        for batch in _length_batches([len(t) for t in unique], batch_size):
            enc = tokenizer([prefix + unique[i] for i in batch], truncation=True, max_length=limit, padding=True,
                            return_tensors="pt").to(dev)
            enc.pop("token_type_ids", None)  # BERT-style tokenizers add them; seq2seq models reject them
            longest = min(limit, 2 * enc["input_ids"].shape[1] + 10)  # output tokens, whatever the config says
            with torch.inference_mode(), torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                generated = model.generate(**enc, num_beams=num_beams, do_sample=False, max_length=longest, **forced)
            for i, translation in zip(batch, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                translation = _keep_placeholders(unique[i], translation.strip())
                for position in by_text[unique[i]]:
                    out[position] = translation
    return out


def _keep_placeholders(source: str, translation: str) -> str:
    missing = [p for p in PLACEHOLDER.findall(source) if p not in translation]
    return " ".join([translation, *missing]) if missing else translation


# ---------------------------------------------------------------------------------------- evaluation

def evaluate_translations(hypotheses: Sequence[str], references: Sequence[str], tgt_lang: str) -> dict:
    """Corpus BLEU and chrF (sacrebleu); Chinese targets use sacrebleu's ``zh`` tokenizer."""
    import sacrebleu

    hypotheses, references = list(hypotheses), list(references)
    tokenize = "zh" if tgt_lang == "zh" else "13a"
    bleu = sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize)
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    return {"bleu": round(float(bleu.score), 2), "chrf": round(float(chrf.score), 2), "pairs": len(references)}


def evaluate_model(model_dir: str | Path, pairs: Sequence[Pair | tuple], max_pairs_per_direction: int | None = None,
                   num_beams: int = 1, device: str = "auto", _loaded: tuple | None = None) -> dict:
    """``{"zh-en": {"bleu", "chrf", "pairs"}, ...}`` on held-out pairs, per direction."""
    by_direction: dict[tuple[str, str], list[Pair]] = {}
    for pair in map(lambda p: Pair(*p), pairs):
        by_direction.setdefault((pair.src_lang, pair.tgt_lang), []).append(pair)
    scores = {}
    for (src, tgt), items in sorted(by_direction.items()):
        items = items[:max_pairs_per_direction] if max_pairs_per_direction else items
        hypotheses = translate([p.src_text for p in items], src, tgt, model_dir, num_beams=num_beams, device=device,
                               _loaded=_loaded)
        scores[f"{src}-{tgt}"] = evaluate_translations(hypotheses, [p.tgt_text for p in items], tgt)
    return scores


# -------------------------------------------------------------------------------------- parallel data

def pairs_from_segments(segments: dict[str, dict[str, str]], pivot: str = PIVOT) -> list[Pair]:
    """Both directions between the pivot and every other language of each segment."""
    pairs = []
    for _, texts in sorted(segments.items()):
        if pivot not in texts:
            continue
        for lang, text in sorted(texts.items()):
            if lang != pivot:
                pairs.append(Pair(lang, text, pivot, texts[pivot]))
                pairs.append(Pair(pivot, texts[pivot], lang, text))
    return pairs


def _hash_share(key: str) -> float:
    """A stable number in [0, 1) for ``key``: the same split on every machine and run."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16) / 16 ** 12


@dataclass
class ParallelSplit:
    train: list[Pair]
    eval: list[Pair]
    fingerprint: str
    segments: int


TRANSLATION_MEMORY_SQL = """
    select segment_id, language, text
    from staging.stg_raw__translation_memory
    where text is not null and trim(text) <> '' and segment_id is not null and language is not null
    order by segment_id, language, text
"""


def translation_memory_split(conn: duckdb.DuckDBPyConnection, pivot: str = PIVOT, eval_share: float = 0.1
                             ) -> ParallelSplit:
    """Pairs from ``staging.stg_raw__translation_memory``, split by a hash of the segment id.

    Rows sharing a segment id translate each other. A segment goes wholly to train or to eval, so
    no evaluation sentence is ever seen in training in another direction. Empty when the table is
    missing (a warehouse built before translation memories were loaded).
    """
    exists = conn.execute("""
        select count(*) from information_schema.tables
        where table_schema = 'staging' and table_name = 'stg_raw__translation_memory'""").fetchall()[0][0]
    rows = conn.execute(TRANSLATION_MEMORY_SQL).fetchall() if exists else []
    segments: dict[str, dict[str, str]] = {}
    for segment_id, language, text in rows:
        language = re.split(r"[-_]", language.strip().lower())[0]  # "zh-CN", "ZH" -> "zh": one tag per language
        segments.setdefault(str(segment_id), {}).setdefault(language, text)
    train = {k: v for k, v in segments.items() if _hash_share(k) >= eval_share}
    held_out = {k: v for k, v in segments.items() if _hash_share(k) < eval_share}
    digest = hashlib.sha256(json.dumps(rows, ensure_ascii=False, default=str).encode()).hexdigest()[:16]
    return ParallelSplit(pairs_from_segments(train, pivot), pairs_from_segments(held_out, pivot), digest,
                         len(segments))


TATOEBA_LANGUAGES = {"cmn": "zh", "spa": "es", "fra": "fr", "deu": "de"}


def read_tatoeba(path: str | Path, split: str = "train", test_share: float = 0.05, other_lang: str | None = None
                 ) -> list[tuple[str, str, str]]:
    """``(other_lang, english, other)`` sentence pairs of a Tatoeba-format file, one split of it.

    Lines are ``english<TAB>other[<TAB>attribution]``; a folder means its ``cmn.txt`` (or its only
    ``*.txt``). The split is by a hash of the English sentence, so every translation of one English
    sentence lands on the same side and a test sentence is never trained on, on any machine.
    """
    path = Path(path)
    if path.is_dir():
        files = [path / "cmn.txt"] if (path / "cmn.txt").exists() else sorted(path.glob("*.txt"))
        if len(files) != 1:
            raise FileNotFoundError(f"expected one Tatoeba file (e.g. cmn.txt) in {path}, found {len(files)}")
        path = files[0]
    other_lang = other_lang or TATOEBA_LANGUAGES.get(path.stem, path.stem)
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            continue
        english, other = fields[0].strip(), fields[1].strip()
        in_test = _hash_share(english) < test_share
        if split == "all" or (split == "test") == in_test:
            out.append((other_lang, english, other))
    return out


def tatoeba_pairs(path: str | Path, split: str = "train", test_share: float = 0.05, pivot: str = PIVOT,
                  other_lang: str | None = None) -> list[Pair]:
    """Both directions (other->English and English->other) of one split of a Tatoeba-format file."""
    if pivot != "en":
        raise ValueError("Tatoeba files pair English with one other language: the pivot must be 'en'")
    pairs = []
    for lang, english, other in read_tatoeba(path, split, test_share, other_lang):
        pairs.append(Pair(lang, other, "en", english))
        pairs.append(Pair("en", english, lang, other))
    return pairs


# ------------------------------------------------------------------------------- registry and tables

def ensure_translation_tables(conn: duckdb.DuckDBPyConnection) -> None:
    ensure_tables(conn)
    conn.execute("""
        create table if not exists ml.turn_translations (
            conversation_id varchar not null, turn_index integer not null, model_version varchar not null,
            source_language varchar not null, language_confidence double not null, target_language varchar not null,
            source_sha varchar not null, translation varchar, passed_through boolean not null,
            scored_at timestamp not null, primary key (conversation_id, turn_index, model_version)
        )""")
    conn.execute("""
        create table if not exists ml.translation_quality (
            model_version varchar not null, source_language varchar not null, target_language varchar not null,
            bleu double, chrf double, eval_pairs bigint not null, usable boolean not null, min_chrf double not null,
            evaluated_at timestamp not null, primary key (model_version, source_language, target_language)
        )""")


def record_quality(conn: duckdb.DuckDBPyConnection, version: str, directions: dict,
                   min_chrf: float = DEFAULT_MIN_CHRF) -> None:
    """One row per evaluated language pair, with ``usable`` = chrF at or above ``min_chrf``."""
    import pyarrow as pa

    ensure_translation_tables(conn)
    if not directions:
        return
    rows = [(d.split("-", 1), s) for d, s in sorted(directions.items())]
    table = pa.table({
        "model_version": [version] * len(rows), "source_language": [d[0] for d, _ in rows],
        "target_language": [d[1] for d, _ in rows], "bleu": [float(s["bleu"]) for _, s in rows],
        "chrf": [float(s["chrf"]) for _, s in rows], "eval_pairs": [int(s["pairs"]) for _, s in rows],
    })
    with _transaction_reading(conn, "_translation_quality", table):
        conn.execute("delete from ml.translation_quality where model_version = ?", [version])
        conn.execute("""
            insert into ml.translation_quality
            select model_version, source_language, target_language, bleu, chrf, eval_pairs, chrf >= ?, ?,
                   now()::timestamp
            from _translation_quality""", [min_chrf, min_chrf])


@contextmanager
def _transaction_reading(conn: duckdb.DuckDBPyConnection, name: str, table):
    """One transaction that reads an Arrow table as ``name``: rolled back on any error, ``name`` dropped either way."""
    conn.register(name, table)
    try:
        conn.execute("begin transaction")
        yield
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    finally:
        conn.unregister(name)


def _current_run(conn: duckdb.DuckDBPyConnection) -> tuple | None:
    rows = conn.execute(
        "select model_version, config ->> 'data_fingerprint', config ->> 'trained_by', base_checkpoint "
        "from ml.ml_model_runs where task = ? and is_current", [TASK]).fetchall()
    return rows[0] if rows else None


def use_checkpoint(conn_factory, model_root: Path, checkpoint: str | Path, pivot: str = PIVOT,
                   eval_pairs: Sequence[Pair] = (), min_chrf: float = DEFAULT_MIN_CHRF,
                   cfg: TranslationConfig = TranslationConfig()) -> tuple[str, dict]:
    """Register a user-configured checkpoint as the current translation model (no training).

    The version directory holds only a ``training.json`` naming the checkpoint, so the ``CURRENT``
    pointer works as for trained versions. Held-out pairs into the pivot, when given, are scored so
    the quality table covers user checkpoints too.
    """
    checkpoint = Path(checkpoint).expanduser().resolve()
    if not (checkpoint / "config.json").exists():
        raise FileNotFoundError(f"the translation checkpoint {checkpoint} has no config.json: point "
                                "SI_TRANSLATION_BASE at a Hugging Face seq2seq model directory")
    stamp = (checkpoint / "config.json").stat().st_mtime_ns
    version = f"{TASK}-user-{hashlib.sha256(f'{checkpoint}:{stamp}'.encode()).hexdigest()[:12]}"
    with conn_factory() as conn:
        ensure_translation_tables(conn)
        last = _current_run(conn)
    if last and last[0] == version and (model_root / TASK / version).exists():
        return "user checkpoint in use", {"model_version": version, "checkpoint": str(checkpoint)}
    started = time.perf_counter()
    into_pivot = [p for p in map(lambda p: Pair(*p), eval_pairs) if p.tgt_lang == pivot]
    directions = evaluate_model(checkpoint, into_pivot, cfg.eval_pairs_per_direction, cfg.num_beams,
                                cfg.device) if into_pivot else {}
    out_dir = model_root / TASK / version
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {"directions": directions, "eval_examples": sum(s["pairs"] for s in directions.values())}
    result = TrainResult(out_dir, sorted({d.split("-")[0] for d in directions} | {pivot}), metrics,
                         round(time.perf_counter() - started, 2), str(checkpoint),
                         {"trained_by": "user", "checkpoint": str(checkpoint), "pivot": pivot,
                          "directions": directions})
    write_training_card(result)
    with conn_factory() as conn:
        record_quality(conn, version, directions, min_chrf)
        register(conn, TASK, version, result)
    return "user checkpoint registered", {"model_version": version, "checkpoint": str(checkpoint),
                                          **_headline(directions)}


def _headline(directions: dict) -> dict:
    """Flat BLEU/chrF per direction (``bleu_zh_en``), for Dagster metadata and logs."""
    flat = {}
    for direction, s in directions.items():
        key = direction.replace("-", "_")
        flat[f"bleu_{key}"], flat[f"chrf_{key}"] = s["bleu"], s["chrf"]
    return flat


def train_if_parallel_data_changed(conn_factory, model_root: Path, cfg: TranslationConfig = TranslationConfig(),
                                   pivot: str = PIVOT, checkpoint: str | Path | None = None,
                                   extra_train: Sequence[Pair] = (), extra_eval: Sequence[Pair] = (),
                                   min_chrf: float = DEFAULT_MIN_CHRF) -> tuple[str, dict]:
    """Train and register a new version when the parallel data (or the budget) changed; (status, facts).

    With ``checkpoint`` set, that checkpoint is used instead and nothing is trained. The
    fingerprint covers the translation memory, the extra pairs and the model/budget settings, so
    an unchanged warehouse reuses the current version at no cost.
    """
    with conn_factory() as conn:
        ensure_translation_tables(conn)
        split = translation_memory_split(conn, pivot)
        last = _current_run(conn)
    if checkpoint:
        return use_checkpoint(conn_factory, model_root, checkpoint, pivot, [*split.eval, *extra_eval], min_chrf, cfg)
    train = [*split.train, *map(lambda p: Pair(*p), extra_train)]
    held_out = [*split.eval, *map(lambda p: Pair(*p), extra_eval)]
    if len(train) < MIN_TRAIN_PAIRS:
        return "skipped", {"reason": f"only {len(train)} parallel training pairs (need {MIN_TRAIN_PAIRS}); "
                                     "load a translation memory or configure a translation checkpoint",
                           "labels": len(train), "labels_needed": MIN_TRAIN_PAIRS}
    fingerprint = hashlib.sha256(json.dumps(
        [split.fingerprint, [tuple(p) for p in train], [tuple(p) for p in held_out], cfg.budget_fingerprint(), pivot],
        ensure_ascii=False).encode()).hexdigest()[:16]
    if last and last[1] == fingerprint and (model_root / TASK / last[0]).exists():
        return "reused", {"model_version": last[0], "train_examples": len(train)}
    version = new_version(TASK)
    result = train_translation_model(train, model_root / TASK / version, held_out, cfg)
    directions = result.metrics.get("directions", {})
    result.config.update(data_fingerprint=fingerprint, trained_by="pipeline", pivot=pivot,
                         translation_memory_segments=split.segments, directions=directions)
    write_training_card(result)
    with conn_factory() as conn:
        record_quality(conn, version, directions, min_chrf)
        register(conn, TASK, version, result)
    return "trained", {"model_version": version, "train_examples": len(train), "eval_examples": len(held_out),
                       "steps": result.metrics["steps"], "train_seconds": result.metrics["train_seconds"],
                       "seconds": result.seconds, **_headline(directions)}


# -------------------------------------------------------------------------------------- enrichment

DETECT_ONLY_VERSION = "detect-only"  # the rows written while no translation model exists

TURNS_TO_TRANSLATE_SQL = """
    select turns.conversation_id, turns.turn_index, coalesce(turns.text, '') as text
    from staging.stg_raw__turns as turns
    left join ml.turn_translations as done
        on done.conversation_id = turns.conversation_id
        and done.turn_index = turns.turn_index
        and done.model_version = ?
    where done.conversation_id is null or done.source_sha is distinct from sha256(coalesce(turns.text, ''))
    order by turns.conversation_id, turns.turn_index
"""


def translate_new_turns(conn_factory, model_root: Path, pivot: str = PIVOT,
                        languages: Sequence[str] = DEFAULT_LANGUAGES, min_language_confidence: float = 0.5,
                        batch_size: int = 32, num_beams: int = 1, chunk_turns: int = 2000, limit: int | None = None,
                        device: str = "auto", threads: int = 0) -> dict:
    """Detect the language of every staged turn and translate non-pivot turns with the current model.

    Incremental: only turns the current version has not done, or whose text changed since (the
    source hash tells), are processed. Pivot-language, blank and undetermined turns (below
    ``min_language_confidence``: "ok", "👍") turns, and turns in a language the model was not trained
    to translate, are stored as they are with ``passed_through``.
    Work is written per chunk of ``chunk_turns`` turns, each chunk one transaction, so a long
    backlog keeps what it finished; ``limit`` caps the turns of one run.
    """
    with torch_threads(threads):
        return _translate_new_turns(conn_factory, model_root, pivot, languages, min_language_confidence, batch_size,
                                    num_beams, chunk_turns, limit, device)


def _translate_new_turns(conn_factory, model_root: Path, pivot: str, languages: Sequence[str],
                         min_language_confidence: float, batch_size: int, num_beams: int, chunk_turns: int,
                         limit: int | None, device: str) -> dict:
    started = time.perf_counter()
    with conn_factory() as conn:
        ensure_translation_tables(conn)
        current = conn.execute("select model_version from ml.ml_model_runs where task = ? and is_current",
                               [TASK]).fetchall()
        version = current[0][0] if current else None
        if version is None or not (model_root / TASK / version).exists():
            # No model (e.g. no translation memory yet): every turn still gets its language, the
            # text passes through; a model trained later redoes each turn under its own version.
            version = DETECT_ONLY_VERSION
        sql = TURNS_TO_TRANSLATE_SQL + (f" limit {int(limit)}" if limit is not None else "")
        todo = conn.execute(sql, [version]).fetchall()
    facts = {"model_version": version, "turns": len(todo), "translated": 0, "passed_through": 0,
             "unique_texts_translated": 0}
    if version == DETECT_ONLY_VERSION:
        facts["reason"] = "no translation model yet: languages detected, text passed through untranslated"
    by_language: dict[str, int] = {}
    model_dir = model_root / TASK / version
    sources = set() if version == DETECT_ONLY_VERSION else translatable_sources(model_dir, pivot)
    for start in range(0, len(todo), chunk_turns):
        chunk = todo[start:start + chunk_turns]
        texts = [t for _, _, t in chunk]
        detected = detect_languages(texts, languages, min_language_confidence)
        translate_mask = [lang not in (pivot, UNDETERMINED) and text.strip() != ""
                          and (sources is None or lang in sources) for (lang, _), text in zip(detected, texts)]
        positions = [i for i, m in enumerate(translate_mask) if m]
        translations = list(texts)
        if positions:
            done = translate([texts[i] for i in positions], [detected[i][0] for i in positions], pivot, model_dir,
                             batch_size=batch_size, num_beams=num_beams, device=device)
            for i, translation in zip(positions, done):
                translations[i] = translation
        facts["unique_texts_translated"] += len({(detected[i][0], texts[i]) for i in positions})
        facts["translated"] += len(positions)
        facts["passed_through"] += len(chunk) - len(positions)
        for lang, _ in detected:
            by_language[lang] = by_language.get(lang, 0) + 1
        _write_translations(conn_factory, version, pivot, chunk, detected, translations, translate_mask)
    facts["by_language"] = dict(sorted(by_language.items()))
    facts["seconds"] = round(time.perf_counter() - started, 2)
    return facts


def translatable_sources(model_dir: Path, pivot: str) -> set[str] | None:
    """Languages our trained model can translate into ``pivot`` (None: a user checkpoint, try them all).

    Why: a tagged model asked for a direction it never saw returns fluent nonsense; passing the
    text through unchanged is honest.
    """
    card = Path(model_dir) / "training.json"
    trained = json.loads(card.read_text()).get("metrics", {}).get("trained_directions") if card.exists() else None
    if not trained:
        return None
    return {d.split("-", 1)[0] for d in trained if d.split("-", 1)[1] == pivot}


def _write_translations(conn_factory, version: str, pivot: str, chunk: list[tuple], detected: list[tuple[str, float]],
                        translations: list[str], translated: list[bool]) -> None:
    import pyarrow as pa

    table = pa.table({
        "conversation_id": [c for c, _, _ in chunk], "turn_index": pa.array([i for _, i, _ in chunk], pa.int32()),
        "source_language": [lang for lang, _ in detected], "language_confidence": [c for _, c in detected],
        "text": [t for _, _, t in chunk], "translation": translations,
        "passed_through": [not t for t in translated],
    })
    with conn_factory() as conn:
        with _transaction_reading(conn, "_new_translations", table):
            conn.execute("""
                delete from ml.turn_translations as done
                using _new_translations as new
                where done.model_version = ?
                  and done.conversation_id = new.conversation_id and done.turn_index = new.turn_index""", [version])
            conn.execute("""
                insert into ml.turn_translations
                select conversation_id, turn_index, ?, source_language, language_confidence, ?, sha256(text),
                       translation, passed_through, now()::timestamp
                from _new_translations""", [version, pivot])
