"""`service-insight forecast`: any CSV of arrivals in, the backtest's choice out as JSON; bad input told plainly.

Fast: small generated files, the cheap candidates, two folds. The last test reads the shared bank
data when it is there (and says why it skipped when it is not).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml import forecasting as fc
from service_insight.cli import main
from service_insight.settings import PROJECT_ROOT

BANK_CALLS = PROJECT_ROOT.parent / "shared" / "data" / "bank_calls_5min" / "calls.csv"
FAST = ["--models", "seasonal_naive,seasonal_es,top_down", "--folds", "2", "--horizon-days", "7"]
METRIC_KEYS = {"mape", "smape", "coverage", "peak_recall"}


def arrival_times(days: int = 35, seed: int = 4) -> pd.Series:
    """Arrival timestamps of a centre open Monday to Saturday 08:00-20:00, busiest late morning."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2026-03-02", periods=days * 24, freq="h")
    rate = np.where((hours.weekday < 6) & (hours.hour >= 8) & (hours.hour < 20),
                    12 + 8 * np.exp(-0.5 * ((hours.hour - 11) / 2.0) ** 2), 0.0)
    counts = rng.poisson(rate)
    starts = np.repeat(hours.to_numpy(), counts)
    return pd.Series(starts + pd.to_timedelta(rng.integers(0, 3600, starts.size), unit="s")).sort_values()


def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    pd.DataFrame({"created_at": arrival_times().dt.strftime("%Y-%m-%dT%H:%M:%S"), "agent": "x"}).to_csv(path,
                                                                                                        index=False)
    return path


def counts_csv(tmp_path: Path) -> Path:
    """The same arrivals as 15-minute counts, quarters without arrivals absent."""
    times = arrival_times()
    quarters = times.dt.floor("15min").value_counts().sort_index()
    path = tmp_path / "counts.csv"
    pd.DataFrame({"slot": quarters.index.strftime("%Y-%m-%d %H:%M"), "calls": quarters.to_numpy()}).to_csv(
        path, index=False)
    return path


def last_json_line(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "nothing on standard output"
    return json.loads(lines[-1])


@pytest.mark.parametrize("form", ["events", "counts"])
@pytest.mark.parametrize("granularity", ["hourly", "daily"])
def test_the_json_report_is_the_last_line_for_events_and_counts_at_both_grains(tmp_path, capsys, form, granularity):
    path = events_csv(tmp_path) if form == "events" else counts_csv(tmp_path)
    value = [] if form == "events" else ["--value-column", "calls"]
    time_column = "created_at" if form == "events" else "slot"
    code = main(["forecast", "--input", str(path), "--time-column", time_column, *value,
                 "--granularity", granularity, "--backtest", "--json", *FAST])
    assert code == 0
    report = last_json_line(capsys.readouterr().out)
    expected = {"seasonal_naive", "seasonal_es"} | ({"top_down"} if granularity == "hourly" else set())
    assert set(report["models"]) == expected and report["chosen"] in expected
    for name, metrics in report["models"].items():
        assert METRIC_KEYS <= set(metrics), name
        assert 0 <= metrics["smape"] <= 2 and 0 <= metrics["coverage"] <= 1
    assert report["granularity"] == granularity and report["folds"] == 2
    assert report["series"]["form"] == form and report["series"]["total"] == len(arrival_times())
    # closed periods: Sundays (and, hourly, nights) are recognised from the zeros
    assert report["series"]["open_slots_per_week"] == (6 * 12 if granularity == "hourly" else 6)


def test_without_backtest_the_chosen_model_forecasts_the_horizon_with_closed_periods_at_zero(tmp_path, capsys):
    out = tmp_path / "forecast.csv"
    code = main(["forecast", "--input", str(events_csv(tmp_path)), "--time-column", "created_at", "--json",
                 "--output", str(out), *FAST])
    assert code == 0
    report = last_json_line(capsys.readouterr().out)
    assert report["forecast"]["model"] == report["chosen"] and report["forecast"]["periods"] == 7 * 24
    frame = pd.read_csv(out, parse_dates=["ds"])
    night = (frame["ds"].dt.hour < 8) | (frame["ds"].dt.hour >= 20) | (frame["ds"].dt.weekday == 6)
    assert (frame.loc[night, ["yhat", "yhat_upper"]].to_numpy() == 0).all() and not frame["is_open"][night].any()
    assert (frame.loc[~night, "yhat"] > 5).all()
    assert ((frame["yhat_lower"] <= frame["yhat"]) & (frame["yhat"] <= frame["yhat_upper"])).all()


@pytest.mark.parametrize("content,args,message", [
    ("created_at,agent\n2026-03-02 09:00,x\n", ["--time-column", "started"], "column `started` missing"),
    ("", ["--time-column", "created_at"], "is empty"),
    ("created_at\n", ["--time-column", "created_at"], "no rows"),
    ("created_at\n2026-03-02 09:00\nyesterday\n2026-03-02 10:00\n", ["--time-column", "created_at"],
     "1 of 3 values in column `created_at`"),
    ("t,calls\n2026-03-02 09:00,4\n2026-03-02 10:00,many\n", ["--time-column", "t", "--value-column", "calls"],
     "not numbers, e.g. 'many' (line 3)"),
    ("created_at\n2026-03-02 09:00\n2026-03-03 09:00\n", ["--time-column", "created_at"],
     "no backtest fold could be scored"),
])
def test_bad_input_is_told_in_one_sentence_with_exit_code_2(tmp_path, capsys, content, args, message):
    path = tmp_path / "in.csv"
    path.write_text(content)
    assert main(["forecast", "--input", str(path), *args, "--backtest", "--json", *FAST]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("when,calls\nsoon,3\n")
    run = subprocess.run([sys.executable, "-m", "service_insight.cli", "forecast", "--input", str(path),
                          "--time-column", "when", "--value-column", "calls", "--backtest", "--json"],
                         capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert run.returncode == 2, run.stderr
    assert "not timestamps" in run.stderr and "Traceback" not in run.stderr and run.stdout == ""
    missing = subprocess.run([sys.executable, "-m", "service_insight.cli", "forecast", "--input",
                              str(tmp_path / "nope.csv"), "--time-column", "when"],
                             capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_the_loader_sums_finer_counts_and_keeps_whole_days(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("t,n\n2026-03-02 09:05,2\n2026-03-02 09:50,3\n2026-03-03 23:55+02:00,1\n2026-03-03 10:00,\n")
    arrivals = fc_load(path, "t", "n", "hourly")
    assert len(arrivals.history) == 48 and arrivals.history["ds"].iloc[0] == pd.Timestamp("2026-03-02")
    by_hour = arrivals.history.set_index("ds")["y"]
    assert by_hour[pd.Timestamp("2026-03-02 09:00")] == 5 and by_hour[pd.Timestamp("2026-03-03 23:00")] == 1
    assert arrivals.history["y"].sum() == 6


def fc_load(*args):
    from ml.forecast_cli import load_arrivals

    return load_arrivals(*args)


@pytest.mark.skipif(not BANK_CALLS.exists(), reason=f"the shared bank call data is not at {BANK_CALLS}")
@pytest.mark.parametrize("granularity", ["daily", "hourly"])
def test_on_real_bank_calls_the_chosen_model_beats_seasonal_naive(granularity):
    from ml.forecast_cli import load_arrivals

    arrivals = load_arrivals(BANK_CALLS, "interval_start", "calls", granularity)
    config = fc.ForecastConfig(backtest_folds=8, backtest_horizon_days=14, backtest_step_days=7,
                               models=("seasonal_naive", "seasonal_es", "top_down"))
    evaluation = fc.evaluate_series({"key": {"series": "bank"}, "granularity": granularity,
                                     "history": arrivals.history, "holidays": None, "config": config})
    summary = fc.summarize_backtest(evaluation["rows"])
    chosen = summary[evaluation["chosen"]]
    assert evaluation["chosen"] != "seasonal_naive" and chosen["folds"] == 8
    assert chosen["smape"] < summary["seasonal_naive"]["smape"]
    assert 0.7 <= chosen["coverage"] <= 0.9
