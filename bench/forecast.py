"""Forecasting: fitting series one by one vs in a process pool, backtests on a generated sample and on real calls.

    python bench/forecast.py [--conversations 60000] [--days 120] [--series 12] [--workers 2] [--folds 4]
                             [--transform auto|log|none] [--seasonality-mode multiplicative|additive]
    python bench/forecast.py --real [PATH] [--real-folds 8] [--real-horizon-days 14] [--real-step-days 7]

Without ``--real``, draws the generator's contact arrivals (the same hourly intensity, holidays
and incidents the warehouse sample is built from, without writing the conversations themselves)
over ``--days`` days, then

1. fits ``--series`` hourly series (3 channels per generator seed) with a 14-day horizon,
   first sequentially, then with ``ml.forecasting.run_tasks`` on ``--workers`` processes, and
   prints both times and their ratio;
2. runs the rolling-origin backtest (``--folds`` folds of 7 days, origins a week apart) of every
   candidate model on the channel series, daily and hourly, and prints MAPE, sMAPE, RMSE,
   interval coverage and peak recall per model, the model each series chose, beside the 83%
   peak recall the scenario's article claims and the "oracle": the MAPE and peak recall of the
   true expected volume the arrivals were drawn from, i.e. the ceiling that Poisson noise leaves
   at this volume (raise ``--conversations`` and it rises);
3. then the real-data table below, when the shared file is there (a clear note when it is not).

``--real [PATH]`` runs only the real-data table: a CSV of arrival counts (default
``../shared/data/bank_calls_5min/calls.csv``, 5-minute call counts of a US bank, weekdays
07:00-21:00) read by the ``service-insight forecast`` loader, backtested at the daily and hourly
grain over ``--real-folds`` folds of ``--real-horizon-days`` days ``--real-step-days`` apart:
per grain and model MAPE, sMAPE, RMSE, calibrated and raw 80% coverage, peak recall, seconds per
fit, and the chosen model.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ml.forecast_cli import InputError, load_arrivals  # noqa: E402
from ml.forecasting import (  # noqa: E402
    ARTICLE_PEAK_RECALL,
    ForecastConfig,
    candidate_models,
    evaluate_series,
    forecast_series,
    holidays_for_prophet,
    mape,
    peak_recall,
    run_tasks,
    series_tasks,
    summarize_backtest,
)
from sample_data.calendar import CHANNELS  # noqa: E402
from sample_data.core import ContactCentreSimulator, GeneratorConfig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HOLIDAYS_SEED = ROOT / "dbt" / "seeds" / "holidays.csv"
GENERATOR_COUNTRY = "CN"  # the generator plants the seed's Chinese calendar
REAL_CALLS = ROOT.parent / "shared" / "data" / "bank_calls_5min" / "calls.csv"
METRICS = ("mape", "smape", "rmse", "coverage", "raw_coverage", "peak_recall", "seconds")


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
    folds = bt[bt["status"] == "ok"].drop_duplicates(["granularity", "channel", "fold"])
    for granularity in ("daily", "hourly"):
        scores, errors = [], []
        for row in folds[folds["granularity"] == granularity].itertuples():
            freq = "D" if granularity == "daily" else "h"
            window = pd.date_range(row.origin, periods=row.test_periods, freq=freq)
            exp = oracle[row.channel].resample(freq).sum().reindex(window, fill_value=0.0)
            act = actual[row.channel].resample(freq).sum().reindex(window, fill_value=0.0)
            scores.append(peak_recall(act.to_numpy(), exp.to_numpy(), share))
            errors.append(mape(act.to_numpy(), exp.to_numpy()))
        out[granularity] = {"oracle_mape": float(np.nanmean(errors)) if errors else float("nan"),
                            "oracle_peak_recall": float(np.nanmean(scores)) if scores else float("nan")}
    return pd.DataFrame(out).T


def model_table(rows: list[dict], chosen: str) -> pd.DataFrame:
    """Per model: fold means of the metrics, the chosen one marked."""
    summary = summarize_backtest(rows)
    table = pd.DataFrame({name: {m: s[m] for m in METRICS} | {"folds": s["folds"]} for name, s in summary.items()}).T
    table.insert(0, "chosen", ["<-" if name == chosen else "" for name in table.index])
    return table


def import_costs() -> str:
    """Import and first-fit cost of the model libraries, measured before anything else loads them."""
    t = time.perf_counter()
    import statsforecast.models as sf  # noqa: F401

    imported = time.perf_counter() - t
    t = time.perf_counter()
    sf.AutoETS(season_length=7).forecast(y=np.arange(60, dtype=float) % 7 + 10, h=7)
    first = time.perf_counter() - t
    t = time.perf_counter()
    sf.AutoETS(season_length=7).forecast(y=np.arange(60, dtype=float) % 7 + 10, h=7)
    second = time.perf_counter() - t
    t = time.perf_counter()
    import prophet  # noqa: F401

    return (f"statsforecast: import {imported:.2f} s, first AutoETS fit {first * 1000:.0f} ms, second "
            f"{second * 1000:.0f} ms (C++ core, no JIT to warm up); prophet import {time.perf_counter() - t:.2f} s")


def real_data(path: Path, folds: int, horizon_days: int, step_days: int) -> None:
    """Backtest every candidate on a real CSV of arrival counts, daily and hourly, and print the tables."""
    print(f"\nreal arrivals: {path}")
    if not path.exists():
        print(f"  skipped: {path} is not there (the shared data folder holds it; pass --real PATH for another "
              "CSV with columns interval_start,calls)")
        return
    config = ForecastConfig(horizon_days=horizon_days, backtest_folds=folds, backtest_horizon_days=horizon_days,
                            backtest_step_days=step_days)
    for granularity in ("daily", "hourly"):
        try:
            arrivals = load_arrivals(path, "interval_start", "calls", granularity)
        except InputError as exc:
            print(f"  cannot read it: {exc}")
            return
        t = time.perf_counter()
        task = {"key": {"series": path.stem}, "granularity": granularity, "history": arrivals.history,
                "holidays": None, "config": config}
        evaluation = evaluate_series(task)
        rows = evaluation["rows"]
        scored = {r["fold"] for r in rows if r.get("model") and r["status"] == "ok"}
        table = model_table(rows, evaluation["chosen"])
        history = arrivals.history
        days = history.groupby(history["ds"].dt.normalize())["y"].sum()
        print(f"\n{granularity}: {len(days)} calendar days ({int((days > 0).sum())} with arrivals), "
              f"{len(scored)} folds of {horizon_days} days {step_days} days apart, candidates "
              f"{', '.join(candidate_models(config, granularity))}, {time.perf_counter() - t:.1f} s")
        with pd.option_context("display.width", 200, "display.precision", 3):
            print(table.to_string())
        naive = table.loc["seasonal_naive", "smape"] if "seasonal_naive" in table.index else float("nan")
        best = table.loc[evaluation["chosen"], "smape"]
        print(f"chosen: {evaluation['chosen']} ({evaluation['reason']}); sMAPE {best:.3f} vs seasonal naive "
              f"{naive:.3f} ({(best / naive - 1) * 100:+.1f}%), 80% interval covers "
              f"{table.loc[evaluation['chosen'], 'coverage']:.1%}")
        # the same folds with closed periods treated as demand (zero-filled nights and weekends)
        zero_filled = replace(config, closed_lookback_weeks=0, models=("seasonal_naive", "prophet"))
        plain = summarize_backtest(evaluate_series({**task, "config": zero_filled})["rows"])
        print("without closed-period handling (zeros as demand, every period scored): sMAPE "
              + ", ".join(f"{name} {m['smape']:.3f}" for name, m in plain.items())
              + "; peak recall " + ", ".join(f"{name} {m['peak_recall']:.2f}" for name, m in plain.items()))


def synthetic(args: argparse.Namespace) -> None:
    holidays = holidays_for_prophet(pd.read_csv(HOLIDAYS_SEED), GENERATOR_COUNTRY)
    config = ForecastConfig(horizon_days=14, backtest_folds=args.folds, backtest_horizon_days=7,
                            backtest_step_days=7, seasonality_mode=args.seasonality_mode,
                            transform=args.transform)

    t0 = time.perf_counter()
    seeds = range(7, 7 + max(1, -(-args.series // len(CHANNELS))))
    drawn = [hourly_counts(args.conversations, args.days, s) for s in seeds]
    counts = pd.concat([c for c, _ in drawn], ignore_index=True)
    print(f"generated arrivals: {len(seeds)} seed(s) x {args.conversations:,} contacts over {args.days} days "
          f"in {time.perf_counter() - t0:.1f} s")

    # 1. sequential vs process pool on the same hourly series (Prophet, the costliest candidate)
    tasks = [{**t, "model": "prophet"} for t in series_tasks(counts, holidays, config, granularities=("hourly",),
                                                               levels=("queue",))]
    tasks = tasks[:args.series]
    t = time.perf_counter()
    sequential = run_tasks(forecast_series, tasks, workers=1)
    seq_s = time.perf_counter() - t
    t = time.perf_counter()
    parallel = run_tasks(forecast_series, tasks, workers=args.workers)
    par_s = time.perf_counter() - t
    same = all(a["forecast"] is not None and b["forecast"] is not None
               and np.allclose(a["forecast"]["yhat"], b["forecast"]["yhat"]) for a, b in zip(sequential, parallel))
    print(f"\nfitting {len(tasks)} hourly series with Prophet ({args.days} days of history, 14-day horizon)")
    print(f"  sequential        {seq_s:7.1f} s  ({seq_s / max(len(tasks), 1):.2f} s per series)")
    print(f"  {args.workers} workers         {par_s:7.1f} s  speed-up x{seq_s / par_s:.2f}  "
          f"(cores {os.cpu_count()}; includes starting the pool)")
    print(f"  identical forecasts sequential vs parallel: {same}")

    # 2. backtest of every candidate on the first seed's channel totals
    first = counts[counts["queue_id"] == f"seed{seeds[0]}"]
    bt_tasks = series_tasks(first, holidays, config, levels=("channel",))
    t = time.perf_counter()
    evaluations = run_tasks(evaluate_series, bt_tasks, workers=args.workers)
    bt = pd.DataFrame([r for e in evaluations for r in e["rows"]])
    print(f"\nrolling-origin backtest: {args.folds} folds x 7 days, {len(bt_tasks)} series, "
          f"{time.perf_counter() - t:.1f} s; seasonality {args.seasonality_mode}, transform {args.transform}")
    ok = bt[bt["status"] == "ok"]
    if ok.empty:
        print("  every fold was skipped:", bt["reason"].dropna().unique().tolist())
        return
    cols = ["mape", "smape", "rmse", "coverage", "raw_coverage", "peak_recall", "seconds"]
    with pd.option_context("display.width", 200, "display.precision", 3):
        print(ok.groupby(["granularity", "model"])[cols].mean().to_string())
        print("\nchosen per series")
        print(bt.drop_duplicates(["granularity", "channel"]).pivot(index="channel", columns="granularity",
                                                                     values="chosen_model").to_string())
        actual = first.pivot_table(index="period_start", columns="channel", values="offered_contacts", aggfunc="sum")
        actual = actual.reindex(drawn[0][1].index, fill_value=0).fillna(0)
        chosen = ok[ok["is_chosen"]].groupby("granularity")[["mape", "peak_recall"]].mean()
        naive = ok[ok["model"] == "seasonal_naive"].groupby("granularity")[["mape", "peak_recall"]].mean()
        per_gran = chosen.join(naive, rsuffix="_naive").join(oracle_scores(ok, drawn[0][1], actual,
                                                                           config.peak_share))
        print("\nchosen models vs seasonal naive vs the oracle, mean per granularity")
        print(per_gran.to_string())
    if "hourly" in per_gran.index:
        hourly = per_gran.loc["hourly"]
        print(f"peak recall (hourly, top decile): chosen {hourly['peak_recall']:.0%}, seasonal naive "
              f"{hourly['peak_recall_naive']:.0%}, the true expected volume {hourly['oracle_peak_recall']:.0%} "
              f"(the ceiling at this volume), article claims {ARTICLE_PEAK_RECALL:.0%}")


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
    parser.add_argument("--real", nargs="?", const=str(REAL_CALLS), default=None, metavar="PATH",
                        help=f"only the real-data table, on PATH (default {REAL_CALLS})")
    parser.add_argument("--real-folds", type=int, default=8)
    parser.add_argument("--real-horizon-days", type=int, default=14)
    parser.add_argument("--real-step-days", type=int, default=7)
    args = parser.parse_args()

    print(import_costs())
    if args.real is None:
        synthetic(args)
    real_data(Path(args.real or REAL_CALLS), args.real_folds, args.real_horizon_days, args.real_step_days)


if __name__ == "__main__":
    main()
