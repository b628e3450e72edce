"""``service-insight forecast``: the warehouse's forecasting, model selection and backtest on any CSV of arrivals.

    service-insight forecast --input calls.csv --time-column interval_start --value-column calls \\
        [--granularity hourly|daily] [--backtest] [--json] [--models seasonal_naive,seasonal_es,ets,top_down,prophet]
        [--select-by rmse|mae|smape|mape] [--folds 8] [--horizon-days 14] [--step-days 7] [--interval-width 0.8]
        [--holidays FILE --country CC] [--output forecast.csv]

Why a command: before trusting the warehouse's forecasts on a new centre, one wants to know which
model wins on *its* arrivals, without loading them into the warehouse first. The input is either
events (one row per arrival: no ``--value-column``) or counts at any grain finer than the
granularity (``--value-column``: summed per hour or day). Periods without a row count as zero
arrivals; closed hours and days are then recognised as in the warehouse (see ``ml.forecasting``).

It runs the same code as the build (:func:`ml.forecasting.evaluate_series`): a rolling-origin
backtest of every candidate, the lowest mean RMSE wins (``--select-by``), intervals calibrated on
the backtest.
``--backtest`` stops there; otherwise the chosen model forecasts ``--horizon-days`` ahead
(``--output`` writes it as CSV). ``--json`` prints one JSON object as the last line of standard
output: ``chosen``, ``models`` ({name: mape, smape, coverage, peak_recall, ...} averaged over
the folds; the baseline is ``seasonal_naive``), and the run's details. Bad input (a missing
column, an empty file, timestamps or counts that cannot be read) is told in one sentence on
standard error with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas and the models load when the command runs, not with every other command
    import pandas as pd

    from ml import forecasting as fc

GRANULARITIES = ("hourly", "daily")
HOLIDAYS_SEED = Path(__file__).resolve().parent.parent / "dbt" / "seeds" / "holidays.csv"


class InputError(ValueError):
    """Input the command cannot use; the message says what and where."""


@dataclass(frozen=True)
class Arrivals:
    """A regular series (ds, y) built from a file, with what was read."""

    history: pd.DataFrame
    granularity: str
    form: str  # events | counts
    rows: int


def _examples(raw: pd.Series, bad: pd.Series, limit: int = 3) -> str:
    shown = [f"{raw[i]!r} (line {i + 2})" for i in raw.index[bad][:limit]]
    return ", ".join(shown)


# A UTC offset after a time of day: dropped, keeping the wall-clock time written.
_OFFSET = r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|UTC|[+-]\d{2}:?\d{2})$"


def parse_times(raw: pd.Series, column: str, path: str) -> pd.Series:
    """Timestamps of ``raw`` as naive local times; :class:`InputError` naming the bad cells.

    A UTC offset (``+01:00``, ``Z``) is dropped and the wall-clock time written is kept: a centre's
    day follows its local clock, and a file whose offset changes with daylight saving still gives
    each arrival its local hour. Convert a file written in UTC to local time first.
    """
    import pandas as pd

    text = raw.astype("string").str.strip().str.replace(_OFFSET, r"\1", regex=True)
    empty = text.isna() | (text == "")
    parsed = pd.to_datetime(text.where(~empty), errors="coerce")
    missed = parsed.isna() & ~empty
    if missed.any():  # a second, per-value pass for files whose format changes from row to row
        parsed = parsed.where(~missed, pd.to_datetime(text[missed], errors="coerce", format="mixed"))
    bad = parsed.isna()
    if bad.any():
        raise InputError(f"{int(bad.sum()):,} of {len(raw):,} values in column `{column}` of {path} are not "
                         f"timestamps (expected e.g. 2026-03-02 09:15), e.g. {_examples(raw, bad)}")
    return parsed


def parse_values(raw: pd.Series, column: str, path: str) -> pd.Series:
    """Counts of ``raw`` (blank cells count 0); :class:`InputError` for text or negative counts."""
    import pandas as pd

    text = raw.astype("string").str.strip()
    blank = text.isna() | (text == "")
    values = pd.to_numeric(text.where(~blank), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        raise InputError(f"{int(bad.sum()):,} values in column `{column}` of {path} are not numbers, "
                         f"e.g. {_examples(raw, bad)}")
    negative = values < 0
    if negative.any():
        raise InputError(f"{int(negative.sum()):,} values in column `{column}` of {path} are negative "
                         f"(arrival counts cannot be), e.g. {_examples(raw, negative.fillna(False))}")
    return values.fillna(0.0).astype(float)


def load_arrivals(path: str | Path, time_column: str, value_column: str | None = None,
                  granularity: str = "hourly") -> Arrivals:
    """Read a CSV of arrivals and sum it to a zero-filled series of whole days.

    The series runs from 00:00 of the first day to the end of the last, so days are whole (the
    top-down model and the weekly slots rely on it).
    """
    import pandas as pd

    from ml import forecasting as fc

    path = str(path)
    if granularity not in fc.GRANULARITIES:
        raise InputError(f"granularity must be one of {', '.join(fc.GRANULARITIES)}, not {granularity!r}")
    wanted = [c for c in (time_column, value_column) if c]
    try:
        header = [str(c).strip() for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise InputError(f"column `{missing[0]}` missing in {path}; its columns are: "
                             f"{', '.join(f'`{c}`' for c in header)}")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            usecols=lambda c: str(c).strip() in wanted)
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a CSV file") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: expected a header line naming `{time_column}` and rows of arrivals") \
            from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable CSV file ({type(exc).__name__}: {exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise InputError(f"{path} has a header but no rows of arrivals")
    times = parse_times(frame[time_column], time_column, path)
    values = parse_values(frame[value_column], value_column, path) if value_column else pd.Series(1.0,
                                                                                                   index=frame.index)
    freq = fc.GRANULARITIES[granularity]["freq"]
    sums = values.groupby(times.dt.floor(freq)).sum()
    first = sums.index.min().normalize()
    last = sums.index.max().normalize()
    end = last + pd.Timedelta(hours=23) if granularity == "hourly" else last
    index = pd.date_range(first, end, freq=freq)
    y = sums.reindex(index, fill_value=0.0).astype(float)
    return Arrivals(pd.DataFrame({"ds": index, "y": y.to_numpy()}), granularity,
                    "counts" if value_column else "events", len(frame))


def load_holidays(path: str | None, country: str | None) -> pd.DataFrame | None:
    """Prophet's holiday frame from a file in the ``holidays`` seed's layout (the seed itself when
    only ``country`` is given); None without a country."""
    import pandas as pd

    from ml import forecasting as fc

    if not country:
        return None
    source = Path(path) if path else HOLIDAYS_SEED
    try:
        rows = pd.read_csv(source)
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read holidays from {source}: {exc}") from None
    missing = {"country", "holiday_date", "holiday", "kind", "lower_window", "upper_window"} - set(rows.columns)
    if missing:
        raise InputError(f"{source} lacks the holiday columns {', '.join(sorted(missing))} "
                         "(layout: country,holiday_date,holiday,kind,lower_window,upper_window)")
    holidays = fc.holidays_for_prophet(rows, country)
    if holidays.empty:
        print(f"note: {source} has no holidays for country {country}; forecasting without holidays", file=sys.stderr)
        return None
    return holidays


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, NumPy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def run_forecast(arrivals: Arrivals, config: fc.ForecastConfig, holidays: pd.DataFrame | None = None,
                 backtest_only: bool = False, name: str = "series") -> dict[str, Any]:
    """Backtest, choose, and (unless ``backtest_only``) forecast; the report as a dict."""
    from ml import forecasting as fc

    task = {"key": {"series": name}, "granularity": arrivals.granularity, "history": arrivals.history,
            "holidays": holidays, "config": config}
    started = time.perf_counter()
    evaluation = fc.evaluate_series(task)
    rows = evaluation["rows"]
    scored = [r for r in rows if r.get("model") and r["status"] == "ok"]
    if not scored:
        days = len(arrivals.history) / fc.GRANULARITIES[arrivals.granularity]["per_day"]
        need = (max(config.min_history_days.values()) + config.backtest_horizon_days)
        reasons = sorted({r.get("reason") or "" for r in rows if r.get("reason")})
        raise InputError(f"no backtest fold could be scored on {days:g} days of {arrivals.granularity} history "
                         f"(a fold needs {need} days: {config.min_history_days[arrivals.granularity]} to fit, "
                         f"{config.backtest_horizon_days} to score; try fewer --folds or a shorter --horizon-days)"
                         + (f": {'; '.join(reasons)}" if reasons else ""))
    view = fc.open_view(arrivals.history, arrivals.granularity, config.closed_lookback_weeks)
    history = arrivals.history
    report: dict[str, Any] = {
        "chosen": evaluation["chosen"],
        "models": fc.summarize_backtest(rows),
        "selection_reason": evaluation["reason"],
        "granularity": arrivals.granularity,
        "folds": len({r["fold"] for r in scored}),
        "fold_horizon_days": config.backtest_horizon_days,
        "fold_step_days": config.backtest_step_days,
        "interval_width": config.interval_width,
        "series": {"start": history["ds"].iloc[0], "end": history["ds"].iloc[-1], "periods": len(history),
                   "days": len(history) // fc.GRANULARITIES[arrivals.granularity]["per_day"],
                   "open_slots_per_week": int(view.pattern.sum()),
                   "closed_days": int((~view.observed).sum() // max(view.per_day or 1, 1)),
                   "total": float(history["y"].sum()), "form": arrivals.form, "rows_read": arrivals.rows},
        "fold_rows": [{k: r.get(k) for k in ("fold", "origin", "model", "status", "reason", "mape", "smape",
                                             "coverage", "raw_coverage", "peak_recall", "seconds")} for r in rows],
    }
    if not backtest_only:
        result = fc.forecast_series({**task, "model": evaluation["chosen"], "interval_scales": evaluation["scales"]})
        frame = result["forecast"]
        report["forecast"] = {"model": result["model"], "status": result["status"], "reason": result["reason"],
                              "horizon_days": config.horizon_days,
                              "periods": 0 if frame is None else len(frame),
                              "total": None if frame is None else float(frame["yhat"].sum())}
        report["_frame"] = frame
    report["seconds"] = time.perf_counter() - started
    return report


def _table(report: dict[str, Any]) -> str:
    lines = [f"{'model':<16}{'MAPE':>8}{'sMAPE':>8}{'cover':>8}{'raw cov':>9}{'peaks':>8}{'s/fit':>8}"]
    for name, m in report["models"].items():
        def f(v: Any) -> str:
            return "   -" if v is None else f"{v:.3f}"
        mark = "  <- chosen" if name == report["chosen"] else ""
        lines.append(f"{name:<16}{f(m['mape']):>8}{f(m['smape']):>8}{f(m['coverage']):>8}{f(m['raw_coverage']):>9}"
                     f"{f(m['peak_recall']):>8}{f(m['seconds']):>8}{mark}")
    return "\n".join(lines)


def cmd_forecast(args: argparse.Namespace) -> int:
    from ml import forecasting as fc

    fc.silence_stan_logging()
    try:
        if not 0.5 <= args.interval_width <= 0.99:
            raise InputError(f"--interval-width must be between 0.5 and 0.99, not {args.interval_width}")
        for flag, value in (("--folds", args.folds), ("--horizon-days", args.horizon_days),
                            ("--step-days", args.step_days)):
            if value < 1:
                raise InputError(f"{flag} must be at least 1, not {value}")
        arrivals = load_arrivals(args.input, args.time_column, args.value_column, args.granularity)
        holidays = load_holidays(args.holidays, args.country)
        config = fc.ForecastConfig(horizon_days=args.horizon_days, interval_width=args.interval_width,
                                   backtest_folds=args.folds, backtest_horizon_days=args.horizon_days,
                                   backtest_step_days=args.step_days, models=fc.parse_models(args.models),
                                   selection_metric=args.select_by)
        print(f"{arrivals.rows:,} rows of {arrivals.form} -> {len(arrivals.history):,} {arrivals.granularity} periods; "
              f"backtesting {', '.join(fc.candidate_models(config, arrivals.granularity))} over {args.folds} folds "
              f"of {args.horizon_days} days", file=sys.stderr)
        report = run_forecast(arrivals, config, holidays, args.backtest, Path(args.input).stem)
    except InputError as exc:
        print(f"forecast: {exc}", file=sys.stderr)
        return 2
    frame = report.pop("_frame", None)
    if frame is not None and args.output:
        frame.drop(columns=["is_peak"]).to_csv(args.output, index=False)
        print(f"forecast ({report['forecast']['model']}, {len(frame):,} periods) written to {args.output}",
              file=sys.stderr)
    if not args.json:
        print(_table(report))
        print(f"chosen: {report['chosen']} ({report['selection_reason']}); {report['folds']} folds, "
              f"{report['granularity']}, {report['interval_width']:.0%} intervals")
        if frame is not None and not args.output:
            print(frame[["ds", "yhat", "yhat_lower", "yhat_upper"]].round(1).to_string(index=False))
        return 0
    if frame is not None and not args.output:
        report["forecast"]["rows"] = frame[["ds", "yhat", "yhat_lower", "yhat_upper"]].assign(
            ds=frame["ds"].astype(str)).to_dict("records")
    sys.stdout.flush()
    print(json.dumps(_clean(report), allow_nan=False))
    return 0


def add_forecast_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``forecast`` command to ``service-insight``'s subparsers."""
    p = subparsers.add_parser("forecast", help="choose and backtest forecast models on any CSV of arrivals",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="CSV file of arrivals")
    p.add_argument("--time-column", required=True, help="column with each row's timestamp")
    p.add_argument("--value-column", help="column with each row's count (omit when one row is one arrival)")
    p.add_argument("--granularity", choices=GRANULARITIES, default="hourly")
    p.add_argument("--backtest", action="store_true", help="backtest and choose only; no forecast")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object, the last line")
    p.add_argument("--models", default="all",
                   help="candidates, comma-separated: seasonal_naive,seasonal_es,ets,top_down,prophet (default all)")
    p.add_argument("--select-by", default="rmse", choices=("rmse", "mae", "smape", "mape"),
                   help="backtest metric that picks the model (default rmse)")
    p.add_argument("--folds", type=int, default=8, help="rolling-origin folds (default 8)")
    p.add_argument("--horizon-days", type=int, default=14, help="days each fold scores and the forecast covers")
    p.add_argument("--step-days", type=int, default=7, help="days between fold origins")
    p.add_argument("--interval-width", type=float, default=0.8)
    p.add_argument("--country", help="use the holidays of this country (Prophet only)")
    p.add_argument("--holidays", help="holiday CSV in the `holidays` seed's layout (default: the seed)")
    p.add_argument("--output", help="write the forecast to this CSV")
    p.set_defaults(func=cmd_forecast)
    return p
