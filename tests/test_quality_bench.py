"""bench/quality.py on tiny synthetic data in the public datasets' formats, with a tiny model built here.

The real datasets and MiniLM are not needed: the test writes Banking77-format CSVs and
GoEmotions-format (Ekman) TSVs to a temporary folder, trains a small BERT from scratch through
the routine's no-base path, and hands that checkpoint to the benchmark as its "pretrained" encoder.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ml.classifier import TrainConfig, train_text_classifier

ROOT = Path(__file__).resolve().parent.parent
QUICK = TrainConfig(epochs=12, batch_size=16, base_learning_rate=2e-3, pooling="mean", label_smoothing=0.05,
                    warmup_ratio=0.1, device="cpu")

VOCAB = {
    "card_arrival": ["card", "arrive", "delivery", "post", "mail"],
    "exchange_rate": ["exchange", "rate", "currency", "euros", "convert"],
    "lost_or_stolen_phone": ["phone", "stolen", "lost", "mobile", "thief"],
    "top_up_failed": ["top", "up", "failed", "declined", "topping"],
}
EMOTIONS = {"anger": ["furious", "angry", "rage", "hate", "annoyed"],
            "joy": ["happy", "love", "great", "wonderful", "thanks"],
            "neutral": ["table", "tuesday", "report", "meeting", "blue"]}
FILLER = ["my", "the", "is", "why", "please", "help", "I", "a", "what", "today"]


def _sentences(vocab: dict[str, list[str]], per_label: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for label, words in vocab.items():
        for _ in range(per_label):
            tokens = rng.sample(words, 2) + rng.sample(FILLER, 3)
            rng.shuffle(tokens)
            rows.append((" ".join(tokens), label))
    rng.shuffle(rows)
    return rows


def _quality():
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quality():
    return _quality()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shared-data")
    banking = root / "banking77"
    banking.mkdir()
    for name, per_label, seed in (("train.csv", 30, 1), ("test.csv", 10, 2)):
        with (banking / name).open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "category"])
            w.writerows(_sentences(VOCAB, per_label, seed))
    ekman = root / "goemotions" / "ekman"
    ekman.mkdir(parents=True)
    names = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
    (ekman / "labels.txt").write_text("\n".join(names) + "\n")
    for split, per_label, seed in (("train", 30, 3), ("dev", 8, 4), ("test", 10, 5)):
        rows = [(text, str(names.index(label)), f"id{i}")
                for i, (text, label) in enumerate(_sentences(EMOTIONS, per_label, seed))]
        rows.append(("angry and happy at once", "0,3", "mixed"))  # two Ekman labels: dropped
        rows.append(("so furious and annoyed", "0,0", "same"))  # one Ekman label twice: kept
        with (ekman / f"{split}.tsv").open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, delimiter="\t").writerows(rows)
    return root


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, data_dir) -> Path:
    """A small BERT trained from scratch on the synthetic texts: the stand-in for MiniLM."""
    rows = _sentences(VOCAB, 20, 9) + _sentences(EMOTIONS, 20, 9)
    out = tmp_path_factory.mktemp("tiny") / "base"
    train_text_classifier([t for t, _ in rows], [y for _, y in rows], out,
                          cfg=TrainConfig(hidden_size=32, layers=1, heads=2, vocab_size=300, min_steps=60,
                                          device="cpu"))
    return out


def test_banking77_yields_baseline_and_fine_tuned_figures(quality, data_dir, tiny_base, tmp_path, capsys):
    figures = quality.run_banking77(data_dir, tiny_base, tmp_path, cfg=QUICK)
    assert [f.model.split()[0] for f in figures] == ["frozen", "fine-tuned"]
    for f in figures:
        assert 0.0 <= f.accuracy <= 1.0 and 0.0 <= f.macro_f1 <= 1.0
        assert f.train_examples == 120 and f.test_examples == 40
        assert f.texts_per_second > 0 and f.train_seconds >= 0
    assert figures[1].accuracy >= 0.75  # four intents: chance is 0.25
    assert (tmp_path / "banking77" / "scored.csv").exists()  # scored by `service-insight predict`
    assert "frozen base + logistic regression: accuracy" in capsys.readouterr().out


def test_goemotions_keeps_comments_with_exactly_one_ekman_label(quality, data_dir, tiny_base, tmp_path, capsys):
    splits, counts = quality.read_goemotions_ekman(data_dir / "goemotions")
    assert counts["train"]["kept"] == 91 and counts["train"]["dropped"] == 1
    assert splits["train"].labels.count("anger") == 31
    figures = quality.run_goemotions(data_dir, tiny_base, tmp_path, cfg=replace(QUICK, epochs=8, keep_best=True))
    tuned = figures[-1]
    assert tuned.test_examples == 31 and tuned.extra["best_epoch"] >= 1
    assert tuned.macro_f1 >= 0.6  # three present emotions, clearly worded
    assert "exactly one Ekman label" in capsys.readouterr().out


def test_an_absent_dataset_is_skipped_with_a_message(quality, tmp_path, capsys):
    assert quality.run_banking77(tmp_path / "nowhere", None, tmp_path) == []
    assert quality.run_goemotions(tmp_path / "nowhere", None, tmp_path) == []
    out = capsys.readouterr().out
    assert "banking77: skipped" in out and "goemotions: skipped" in out


def test_main_prints_the_summary_and_writes_json(quality, data_dir, tiny_base, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(quality, "BANKING77_CONFIG", QUICK)
    out = tmp_path / "figures.json"
    assert quality.main(["--only", "banking77,tatoeba", "--data", str(data_dir), "--base", str(tiny_base),
                         "--max-train", "100", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "target" in printed and "peak RSS" in printed
    assert "tatoeba_cmn_en" in printed or "translation: ml.translation not available" in printed
    figures = json.loads(out.read_text())
    assert [r["result"] for r in figures["summary"]][0] == "-"  # the baseline is a reference
    assert figures["summary"][1]["result"] in ("PASS", "FAIL") and 0 <= figures["summary"][1]["value"] <= 1
    assert figures["figures"][1]["train_examples"] == 100
