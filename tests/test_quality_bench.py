"""bench/quality.py on tiny synthetic data in the public datasets' formats.

The real datasets are not needed: the test writes Banking77-format CSVs, GoEmotions-format (Ekman)
TSVs and SMP2019 / CLUEmotion-format JSON Lines to a temporary folder and runs the benchmark on
them: the default ``service-insight train`` beside both baselines, and the summary that compares them.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

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
    smp, clue = root / "smp2019_ecdt", root / "cluemotion"
    smp.mkdir()
    clue.mkdir()
    for split, n in (("train", 12), ("test", 4)):
        with (smp / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for i in range(n):
                for domain, text in (("weather", "明天北京天气怎么样"), ("music", "播放一首周杰伦的歌"),
                                     ("flight", "帮我订一张去上海的机票")):
                    fh.write(json.dumps({"text": f"{text}{i}", "domain": domain, "intent": f"{domain}.QUERY"},
                                        ensure_ascii=False) + "\n")
        with (clue / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for i in range(n):
                for label, text in (("happiness", "今天真开心哈哈"), ("sadness", "心里好难过想哭")):
                    fh.write(json.dumps({"id": i, "content": f"{text}{i}", "label": label}, ensure_ascii=False) + "\n")
    return root


def test_banking77_runs_the_default_trainer_beside_both_baselines(quality, data_dir, tmp_path, capsys):
    train, test = quality.load_set(data_dir, "banking77", None)
    figures = [quality.default_trainer("banking77", train, test, tmp_path),
               quality.tfidf_svm_baseline("banking77", train, test),
               quality.frozen_encoder_baseline("banking77", train, test)]
    assert [f.model.split()[0] for f in figures] == ["service-insight", "baseline:", "baseline:"]
    for f in figures:
        assert 0.0 <= f.accuracy <= 1.0 and 0.0 <= f.macro_f1 <= 1.0
        assert f.train_examples == 120 and f.test_examples == 40
    default = figures[0]
    assert default.accuracy >= 0.75  # four intents: chance is 0.25
    assert default.extra["chosen"] in default.extra["candidates"]
    assert {"char_tfidf", "encoder_lr", "ensemble"} <= set(default.extra["candidates"])
    assert "minilm" in figures[2].model  # English text: the English encoder
    out = capsys.readouterr().out
    assert "candidate char_tfidf" in out and "baseline: char TF-IDF + linear SVM: accuracy" in out


def test_goemotions_keeps_comments_with_exactly_one_ekman_label(quality, data_dir, capsys):
    splits, counts = quality.read_goemotions_ekman(data_dir / "goemotions")
    assert counts["train"]["kept"] == 91 and counts["train"]["dropped"] == 1
    assert splits["train"].labels.count("anger") == 31
    train, test = quality.load_set(data_dir, "goemotions", None)
    assert len(test.texts) == 31
    assert "exactly one Ekman label" in capsys.readouterr().out


def test_the_chinese_sets_read_their_own_fields(quality, data_dir):
    train, test = quality.load_set(data_dir, "smp2019", None)
    assert set(train.labels) == {"weather", "music", "flight"} and len(test.texts) == 12
    train, _ = quality.load_set(data_dir, "cluemotion", None)
    assert set(train.labels) == {"happiness", "sadness"} and train.texts[0].startswith("今天")
    assert quality.data_encoder(train.texts) == "e5-onnx"


def test_an_absent_dataset_is_skipped_with_a_message(quality, tmp_path, capsys):
    assert quality.load_set(tmp_path / "nowhere", "banking77", None) is None
    assert quality.load_set(tmp_path / "nowhere", "cluemotion", None) is None
    out = capsys.readouterr().out
    assert "banking77: skipped" in out and "cluemotion: skipped" in out


def test_main_compares_the_default_with_the_better_baseline_and_writes_json(quality, data_dir, tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert quality.main(["--only", "banking77,tatoeba", "--data", str(data_dir), "--max-train", "100",
                         "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ">= baselines" in printed and "peak RSS" in printed
    assert "tatoeba_cmn_en" in printed or "translation: ml.translation not available" in printed
    figures = json.loads(out.read_text())
    rows = {r["metric"]: r for r in figures["summary"] if r["task"] == "banking77"}
    assert set(rows) == {"accuracy", "macro_f1"}
    best = max(f["accuracy"] for f in figures["figures"] if f["model"].startswith("baseline"))
    assert rows["accuracy"]["best_baseline"] == best
    assert rows["accuracy"]["vs_baselines"] == ("PASS" if rows["accuracy"]["value"] >= best - quality.NOISE else "FAIL")
    assert rows["accuracy"]["target"] == ">= 0.94" and rows["accuracy"]["target_result"] in ("PASS", "FAIL")
    assert figures["figures"][0]["train_examples"] == 100
