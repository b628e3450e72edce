"""Forecasting: fitting series one by one vs in a process pool, and backtest figures on a longer sample.

    python bench/forecast.py [--conversations 60000] [--days 120] [--series 12] [--workers 2] [--folds 4]
                             [--transform auto|log|none] [--seasonality-mode multiplicative|additive]

Draws the generator's contact arrivals (the same hourly intensity, holidays and incidents
the warehouse sample is built from, without writing the conversations themselves) over
``--days`` days, then

1. fits ``--series`` hourly series (3 channels per generator seed) with a 14-day horizon,
   first sequentially, then with ``ml.forecasting.run_tasks`` on ``--workers`` processes, and
   prints both times and their ratio;
2. runs the rolling-origin backtest (``--folds`` folds of 7 days, origins a week apart) on
   the channel series, daily and hourly, and prints MAPE, sMAPE, interval coverage and peak
   recall for Prophet and the seasonal-naive baseline side by side, beside the 83% peak
   recall the scenario's article claims and the "oracle": the MAPE and peak recall of the true
   expected volume the arrivals were drawn from, i.e. the ceiling that Poisson noise leaves at
   this volume (raise ``--conversations`` and it rises).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ml.forecasting import (  # noqa: E402
    ARTICLE_PEAK_RECALL,
    ForecastConfig,
    mape,
    peak_recall,
    backtest_series,
    forecast_series,
    holidays_for_prophet,
    run_tasks,
    series_tasks,
)
from warehouse.generator.calendar import CHANNELS  # noqa: E402
from warehouse.generator.core import ContactCentreSimulator, GeneratorConfig  # noqa: E402

HOLIDAYS_SEED = Path(__file__).resolve().parent.parent / "dbt" / "seeds" / "holidays.csv"


def hourly_counts(conversations: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Offered contacts per hour and channel from the generator's arrival process, and the
    expected count per hour and channel the arrivals were drawn from (the "oracle")."""
    config = GeneratorConfig(conversations=conversations, days=days, seed=seed)
    sim = ContactCentreSimulator(config)
    seconds, channel = sim.arrivals()
    start = pd.Timestamp(datetime.combine(config.start, datetime.min.time()))
    frame = pd.DataFrame({"ds": start + pd.to_timedelta(seconds // 3600 * 3600, unit="s"),
                          "channel": np.asarray(CHANNELS)[channel]})
    counts = frame.groupby(["ds", "channel"]).size().rename("offered_contacts").reset_index()
    counts = counts.rename(columns={"ds": "period_start"}).assign(queue_id=f"seed{seed}")
    weights = sim.intensity.reshape(-1, len(CHANNELS))
    expected = weights / weights.sum() * conversations
    hours = pd.date_range(start, periods=expected.shape[0], freq="h")
    oracle = pd.DataFrame(expected, index=hours, columns=list(CHANNELS))
    return counts, oracle


def oracle_scores(bt: pd.DataFrame, oracle: pd.DataFrame, actual: pd.DataFrame, share: float) -> pd.DataFrame:
    """MAPE and peak recall of the true expected counts on the same folds: what Poisson noise leaves."""
    out = {}
    for granularity in ("daily", "hourly"):
        scores, errors = [], []
        for row in bt[(bt["granularity"] == granularity) & (bt["status"] != "skipped")].itertuples():
            freq = "D" if granularity == "daily" else "h"
            window = pd.date_range(row.origin, periods=row.test_periods, freq=freq)
            exp = oracle[row.channel].resample(freq).sum().reindex(window, fill_value=0.0)
            act = actual[row.channel].resample(freq).sum().reindex(window, fill_value=0.0)
            scores.append(peak_recall(act.to_numpy(), exp.to_numpy(), share))
            errors.append(mape(act.to_numpy(), exp.to_numpy()))
        out[granularity] = {"oracle_mape": float(np.nanmean(errors)) if errors else float("nan"),
                            "oracle_peak_recall": float(np.nanmean(scores)) if scores else float("nan")}
    return pd.DataFrame(out).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=60_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--series", type=int, default=12, help="hourly series fitted for the timing (3 per seed)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seasonality-mode", default="multiplicative", choices=("multiplicative", "additive"))
    parser.add_argument("--transform", default="auto", choices=("auto", "log", "none"),
                        help="fit log(1 + y) (auto: on series averaging 20+ contacts a period)")
    args = parser.parse_args()

    holidays = holidays_for_prophet(pd.read_csv(HOLIDAYS_SEED), "CN")
    config = ForecastConfig(horizon_days=14, backtest_folds=args.folds, backtest_horizon_days=7,
                            backtest_step_days=7, seasonality_mode=args.seasonality_mode,
                            transform=args.transform)

    t0 = time.perf_counter()
    seeds = range(7, 7 + max(1, -(-args.series // len(CHANNELS))))
    drawn = [hourly_counts(args.conversations, args.days, s) for s in seeds]
    counts = pd.concat([c for c, _ in drawn], ignore_index=True)
    print(f"generated arrivals: {len(seeds)} seed(s) x {args.conversations:,} contacts over {args.days} days "
          f"in {time.perf_counter() - t0:.1f} s")

    # 1. sequential vs process pool on the same hourly series
    tasks = [t for t in series_tasks(counts, holidays, config, granularities=("hourly",), levels=("queue",))]
    tasks = tasks[:args.series]
    t = time.perf_counter()
    sequential = run_tasks(forecast_series, tasks, workers=1)
    seq_s = time.perf_counter() - t
    t = time.perf_counter()
    parallel = run_tasks(forecast_series, tasks, workers=args.workers)
    par_s = time.perf_counter() - t
    same = all(a["forecast"] is not None and b["forecast"] is not None
               and np.allclose(a["forecast"]["yhat"], b["forecast"]["yhat"]) for a, b in zip(sequential, parallel))
    print(f"\nfitting {len(tasks)} hourly series ({args.days} days of history, 14-day horizon)")
    print(f"  sequential        {seq_s:7.1f} s  ({seq_s / max(len(tasks), 1):.2f} s per series)")
    print(f"  {args.workers} workers         {par_s:7.1f} s  speed-up x{seq_s / par_s:.2f}  "
          f"(cores {os.cpu_count()}; includes starting the pool)")
    print(f"  identical forecasts sequential vs parallel: {same}")

    # 2. backtest on the first seed's channel totals
    first = counts[counts["queue_id"] == f"seed{seeds[0]}"]
    bt_tasks = series_tasks(first, holidays, config, levels=("channel",))
    t = time.perf_counter()
    rows = [r for series in run_tasks(backtest_series, bt_tasks, workers=args.workers) for r in series]
    bt = pd.DataFrame(rows)
    print(f"\nrolling-origin backtest: {args.folds} folds x 7 days, {len(bt_tasks)} series, "
          f"{time.perf_counter() - t:.1f} s; seasonality {args.seasonality_mode}, transform {args.transform}")
    ok = bt[bt["status"] != "skipped"]
    if ok.empty:
        print("  every fold was skipped:", bt["reason"].dropna().unique().tolist())
        return
    cols = ["prophet_mape", "naive_mape", "prophet_smape", "naive_smape", "prophet_coverage", "naive_coverage",
            "prophet_peak_recall", "naive_peak_recall"]
    table = ok.groupby(["granularity", "channel"])[cols].mean()
    table.loc[("all", "mean"), :] = ok.groupby("granularity")[cols].mean().mean()
    per_gran = ok.groupby("granularity")[cols].mean()
    actual = first.pivot_table(index="period_start", columns="channel", values="offered_contacts", aggfunc="sum")
    actual = actual.reindex(drawn[0][1].index, fill_value=0).fillna(0)
    per_gran = per_gran.join(oracle_scores(ok, drawn[0][1], actual, config.peak_share))
    with pd.option_context("display.width", 200, "display.precision", 3):
        print(table.to_string())
        print("\nmean per granularity")
        print(per_gran.to_string())
    wins = (ok["prophet_mape"] < ok["naive_mape"]).mean()
    print(f"\nProphet beats seasonal naive on MAPE in {wins:.0%} of {len(ok)} folds")
    hourly = per_gran.loc["hourly"] if "hourly" in per_gran.index else None
    if hourly is not None:
        print(f"peak recall (hourly, top decile): Prophet {hourly['prophet_peak_recall']:.0%}, "
              f"seasonal naive {hourly['naive_peak_recall']:.0%}, the true expected volume "
              f"{hourly['oracle_peak_recall']:.0%} (the ceiling at this volume), article claims {ARTICLE_PEAK_RECALL:.0%}")
    print(f"nominal interval {config.interval_width:.0%}; coverage Prophet "
          f"{ok['prophet_coverage'].mean():.0%}, naive {ok['naive_coverage'].mean():.0%}")


if __name__ == "__main__":
    main()
