"""A stateless fit is reused only while its inputs and its code are exactly those of the last call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import result_cache
from tests.conftest import point_settings_at


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("SI_RESULT_CACHE", raising=False)
    point_settings_at(tmp_path)
    return tmp_path


class Fits:
    """Counts how many items were really computed."""

    def __init__(self):
        self.computed = 0

    def __call__(self, item):
        self.computed += 1
        return {"total": float(item["history"]["y"].sum()), "granularity": item["granularity"]}

    def batch(self, items):
        return [self(item) for item in items]


def _tasks(shift: float = 0.0) -> list[dict]:
    days = pd.date_range("2026-01-01", periods=30, freq="D")
    return [{"key": {"channel": channel}, "granularity": "daily",
             "history": pd.DataFrame({"ds": days, "y": np.arange(30, dtype=float) * (i + 1) + shift})}
            for i, channel in enumerate(["chat", "email", "phone"])]


def test_the_same_inputs_are_fitted_once_and_a_changed_series_alone_is_refitted(data_dir):
    fits = Fits()
    first, reused = result_cache.cached_map("demo", fits, _tasks(), "code-v1", fits.batch)
    assert fits.computed == 3 and reused == 0
    again, reused = result_cache.cached_map("demo", fits, _tasks(), "code-v1", fits.batch)
    assert fits.computed == 3 and reused == 3 and again == first
    changed = _tasks()
    changed[1]["history"].loc[29, "y"] += 1  # one new contact on one series
    third, reused = result_cache.cached_map("demo", fits, changed, "code-v1", fits.batch)
    assert fits.computed == 4 and reused == 2 and third[1]["total"] == first[1]["total"] + 1
    assert len(list((data_dir / "cache" / "demo").glob("*.pkl"))) == 3  # the replaced entry is gone


def test_changed_code_a_changed_column_type_or_a_disabled_cache_fits_again(data_dir, monkeypatch):
    fits = Fits()
    result_cache.cached_map("demo", fits, _tasks(), "code-v1", fits.batch)
    result_cache.cached_map("demo", fits, _tasks(), "code-v2", fits.batch)
    assert fits.computed == 6
    as_ints = _tasks()
    for task in as_ints:
        task["history"]["y"] = task["history"]["y"].astype("int64")  # equal values, another type
    result_cache.cached_map("demo", fits, as_ints, "code-v2", fits.batch)
    assert fits.computed == 9
    monkeypatch.setenv("SI_RESULT_CACHE", "0")
    _, reused = result_cache.cached_map("demo", fits, as_ints, "code-v2", fits.batch)
    assert fits.computed == 12 and reused == 0


def test_an_unreadable_entry_is_refitted_not_served(data_dir):
    fits = Fits()
    result_cache.cached_map("demo", fits, _tasks(), "code-v1", fits.batch)
    for entry in (data_dir / "cache" / "demo").glob("*.pkl"):
        entry.write_bytes(b"half a file")  # a run killed mid-write, a disk error
    results, reused = result_cache.cached_map("demo", fits, _tasks(), "code-v1", fits.batch)
    assert reused == 0 and fits.computed == 6 and results[0]["granularity"] == "daily"


def test_inputs_without_a_content_hash_are_computed_every_time(data_dir):
    fits = Fits()
    odd = [dict(task, opaque=object()) for task in _tasks()]
    for _ in range(2):
        result_cache.cached_map("demo", fits, odd, "code-v1", fits.batch)
    assert fits.computed == 6 and not list((data_dir / "cache" / "demo").glob("*.pkl"))


def test_the_fingerprint_follows_the_source_of_the_fitting_module(data_dir, tmp_path, monkeypatch):
    module = tmp_path / "pkg_fit_demo.py"
    module.write_text("def fit():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = result_cache.code_fingerprint(["pkg_fit_demo"], ["numpy"])
    assert before == result_cache.code_fingerprint(["pkg_fit_demo"], ["numpy"])
    module.write_text("def fit():\n    return 2\n")
    assert result_cache.code_fingerprint(["pkg_fit_demo"], ["numpy"]) != before
    assert result_cache.code_fingerprint(["pkg_fit_demo"], ["pandas"]) != result_cache.code_fingerprint(
        ["pkg_fit_demo"], ["numpy"])


def test_team_suggestions_are_reused_for_the_same_contacts(data_dir):
    from ml.ticket_routing import suggest_teams_reusing

    rng = np.random.default_rng(3)
    words = {"billing": ["invoice", "refund", "charge"], "delivery": ["parcel", "courier", "late"]}
    rows = []
    for i in range(240):
        team = "billing" if i % 2 else "delivery"
        started = pd.Timestamp("2026-01-01") + pd.Timedelta(i, "h")
        rows.append((f"c{i}", " ".join(rng.choice(words[team], 4)), team, started))
    frame = pd.DataFrame(rows, columns=["conversation_id", "text", "team_id", "started_at"])
    texts, labels = frame[["conversation_id", "text"]], frame[["conversation_id", "team_id", "started_at"]]
    first = suggest_teams_reusing(texts, labels, folds=3, min_training=50)
    truth = frame.sort_values("conversation_id")["team_id"].to_numpy()
    assert len(first) == 240 and (first["suggested_team"].to_numpy() == truth).mean() > 0.9
    stored = list((data_dir / "cache" / "team_suggestions").glob("*.pkl"))
    assert len(stored) == 1
    stamp = stored[0].stat().st_mtime_ns
    pd.testing.assert_frame_equal(suggest_teams_reusing(texts, labels, folds=3, min_training=50), first)
    assert stored[0].stat().st_mtime_ns == stamp  # served, not refitted and rewritten
    assert b"invoice" not in stored[0].read_bytes()  # model outputs only, never the texts
    # The dbt model hands the frames over in whatever order DuckDB's threads aggregated them: the same
    # contacts in another row order are the same inputs.
    shuffled = suggest_teams_reusing(texts.sample(frac=1, random_state=1), labels.sample(frac=1, random_state=2),
                                     folds=3, min_training=50)
    pd.testing.assert_frame_equal(shuffled, first)
    assert stored[0].stat().st_mtime_ns == stamp and len(list(stored[0].parent.glob("*.pkl"))) == 1
