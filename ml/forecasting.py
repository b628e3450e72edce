"""Contact-volume forecasts (scenario 7): Prophet beside a seasonal-naive baseline, judged by backtest.

Why two models: a forecast is only worth its cost if it beats "same hour last week". Every
series is forecast by Prophet (trend, weekly and daily seasonality, the holiday calendar the
analysts keep in the ``holidays`` seed) and by a seasonal-naive baseline; the rolling-origin
backtest replays history (fit on everything before an origin, score the next days, move the
origin back a step) and reports both side by side, so the dashboard shows whether Prophet
earns its place on this data rather than asserting it.

Metrics: MAPE (over periods with non-zero actuals; zero actuals make it undefined), sMAPE
(defined everywhere, 0/0 counts as a perfect 0), interval coverage (share of actuals inside the
forecast interval; an 80% interval should cover about 80%), and peak recall: of the periods in
the actual top decile, the share that the forecast also put in its own top decile. Peak recall
is what staffing cares about: a forecast can have a good MAPE and still miss every surge.

Fitting many series is embarrassingly parallel; :func:`run_tasks` spreads them over a process
pool (``SI_FORECAST_WORKERS``, default the CPU count capped at 2 so a shared laptop or CI box
stays usable). Results are deterministic: every task seeds NumPy and Stan from the series key.

Everything here is a pure function of its inputs; nothing reads the warehouse. Bad series
(too short, empty, constant) produce a status and a reason, never an exception.
"""

from __future__ import annotations

import logging
import math
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

# Period length, seasonal-naive season (one week) and periods per day, per granularity.
GRANULARITIES: dict[str, dict[str, Any]] = {
    "daily": {"freq": "D", "season": 7, "per_day": 1},
    "hourly": {"freq": "h", "season": 168, "per_day": 24},
}
# Fewest days of history a series needs: weekly seasonality cannot be told from noise in less
# than two weeks, and the seasonal-naive baseline needs one full week plus one week of errors
# to size its interval.
DEFAULT_MIN_HISTORY_DAYS = {"daily": 14, "hourly": 14}
# Series averaging at least this many contacts per period are fitted on log(1 + y).
LOG_TRANSFORM_MIN_MEAN = 20.0
ARTICLE_PEAK_RECALL = 0.83  # the figure the scenario's source article claims for its forecaster


@dataclass(frozen=True)
class ForecastConfig:
    """Knobs shared by forecasting and backtesting (the dbt vars map onto these)."""

    horizon_days: int = 14
    interval_width: float = 0.8
    seed: int = 7
    peak_share: float = 0.1
    uncertainty_samples: int = 300
    seasonality_mode: str = "multiplicative"
    transform: str = "auto"  # auto | log | none (see prophet_forecast)
    min_history_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIN_HISTORY_DAYS))
    backtest_folds: int = 2
    backtest_horizon_days: int = 7
    backtest_step_days: int = 7


class SeriesTooShort(ValueError):
    """Raised inside this module only; callers get it back as a reason string."""


# ---- logging -------------------------------------------------------------------------------

def silence_stan_logging() -> None:
    """Keep cmdstanpy's per-fit "Chain [1] start processing" lines out of dbt and Dagster logs.

    cmdstanpy installs its own INFO handler unless the logger already has one, so a
    NullHandler is attached first; Prophet's own INFO notes ("disabling yearly seasonality")
    are noise at this scale too.
    """
    for name, level in (("cmdstanpy", logging.ERROR), ("prophet", logging.WARNING)):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.setLevel(level)
        logger.propagate = False


# ---- metrics -------------------------------------------------------------------------------

def _clean_pair(actual: Sequence[float], predicted: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    if a.shape != p.shape:
        raise ValueError(f"actual has {a.size} values, predicted {p.size}: they must align period by period")
    keep = np.isfinite(a) & np.isfinite(p)
    return a[keep], p[keep]


def mape(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute percentage error over periods whose actual is non-zero; NaN if there are none."""
    a, p = _clean_pair(actual, predicted)
    nz = a != 0
    if not nz.any():
        return math.nan
    return float(np.mean(np.abs(a[nz] - p[nz]) / np.abs(a[nz])))


def smape(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Symmetric MAPE in [0, 2]: mean of 2|a - p| / (|a| + |p|), where 0/0 counts as 0 (both said nothing)."""
    a, p = _clean_pair(actual, predicted)
    if a.size == 0:
        return math.nan
    denom = np.abs(a) + np.abs(p)
    terms = np.where(denom == 0, 0.0, 2.0 * np.abs(a - p) / np.where(denom == 0, 1.0, denom))
    return float(np.mean(terms))


def interval_coverage(actual: Sequence[float], lower: Sequence[float], upper: Sequence[float]) -> float:
    """Share of actuals inside [lower, upper], bounds included; NaN for no periods."""
    a = np.asarray(actual, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    if a.size == 0:
        return math.nan
    return float(np.mean((a >= lo) & (a <= hi)))


def top_share_mask(values: Sequence[float], share: float = 0.1) -> np.ndarray:
    """Boolean mask of the ``ceil(share * n)`` largest values (at least one).

    Ties are broken by position, earliest first (a stable sort), so the set always has
    exactly k members and the same input always flags the same periods. Periods whose value
    is not positive are never peaks: an all-zero week has no surge to staff for.
    """
    v = np.asarray(values, dtype=float)
    mask = np.zeros(v.size, dtype=bool)
    if v.size == 0:
        return mask
    k = max(1, math.ceil(min(max(share, 0.0), 1.0) * v.size))
    order = np.argsort(-np.nan_to_num(v, nan=-np.inf), kind="stable")[:k]
    mask[order] = True
    return mask & (np.nan_to_num(v, nan=0.0) > 0)


def peak_recall(actual: Sequence[float], predicted: Sequence[float], share: float = 0.1) -> float:
    """Share of the actual top-``share`` periods that the forecast flagged in its own top ``share``.

    NaN when the actuals have no positive period (nothing to recall).
    """
    a, p = _clean_pair(actual, predicted)
    real = top_share_mask(a, share)
    if not real.any():
        return math.nan
    flagged = top_share_mask(p, share)
    return float((real & flagged).sum() / real.sum())


# ---- models --------------------------------------------------------------------------------

def _periods(days: int, granularity: str) -> int:
    return int(days) * GRANULARITIES[granularity]["per_day"]


def future_index(last_ds: pd.Timestamp, periods: int, granularity: str) -> pd.DatetimeIndex:
    """The ``periods`` period starts that follow ``last_ds``."""
    freq = GRANULARITIES[granularity]["freq"]
    return pd.date_range(pd.Timestamp(last_ds), periods=periods + 1, freq=freq)[1:]


def _finish(ds: pd.DatetimeIndex, yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> pd.DataFrame:
    """Counts cannot be negative and an interval must contain its point forecast."""
    yhat = np.clip(np.asarray(yhat, dtype=float), 0.0, None)
    lower = np.minimum(np.clip(np.asarray(lower, dtype=float), 0.0, None), yhat)
    upper = np.maximum(np.asarray(upper, dtype=float), yhat)
    return pd.DataFrame({"ds": ds, "yhat": yhat, "yhat_lower": lower, "yhat_upper": upper})


def seasonal_naive_forecast(history: pd.DataFrame, granularity: str, periods: int,
                            interval_width: float = 0.8) -> pd.DataFrame:
    """Repeat the last observed season (same weekday / same hour of the same weekday).

    The interval comes from the history's own seasonal differences y[t] - y[t - season]:
    their empirical quantiles, widened by sqrt(k) for the k-th season ahead (errors of a
    random walk over seasons add up).
    """
    season = GRANULARITIES[granularity]["season"]
    y = history["y"].to_numpy(dtype=float)
    if y.size < season:
        raise SeriesTooShort(f"seasonal naive needs one full season ({season} periods), history has {y.size}")
    last = y[-season:]
    steps = np.arange(periods)
    yhat = last[steps % season]
    diffs = y[season:] - y[:-season]
    alpha = (1.0 - min(max(interval_width, 0.0), 1.0)) / 2.0
    if diffs.size:
        lo_q, hi_q = np.quantile(diffs, [alpha, 1.0 - alpha])
    else:
        lo_q = hi_q = 0.0
    widen = np.sqrt(steps // season + 1)
    ds = future_index(history["ds"].iloc[-1], periods, granularity)
    return _finish(ds, yhat, yhat + lo_q * widen, yhat + hi_q * widen)


def prophet_forecast(history: pd.DataFrame, granularity: str, periods: int, holidays: pd.DataFrame | None = None,
                     interval_width: float = 0.8, seed: int = 7, uncertainty_samples: int = 300,
                     seasonality_mode: str = "multiplicative", transform: str = "auto") -> pd.DataFrame:
    """Fit Prophet on ``history`` (columns ds, y) and forecast ``periods`` periods ahead.

    Contact volume is a product (level x weekday x hour of day x holiday). On busy series
    (mean per period at least :data:`LOG_TRANSFORM_MIN_MEAN`, or ``transform="log"``) Prophet
    fits log(1 + y) with additive terms, which is that product exactly; on sparse series the
    log distorts small counts, and multiplicative seasonality on the raw counts does as well
    with better-calibrated intervals (bench/forecast.py, 120 days, hourly channel series: MAPE
    0.21 with the log vs 0.37 without at 5,000 contacts a day; 0.44 either way at 500 a day,
    where the log's 80% interval covers 78% of hours against 83% without).

    Yearly seasonality is off: the warehouse holds months, not years, and a yearly curve fit
    on a few months extrapolates wildly. Holidays outside history and horizon are dropped
    (they add columns, not information). Seeds fix Stan's optimiser and the interval sampling,
    so the same input gives the same forecast.
    """
    from prophet import Prophet

    silence_stan_logging()
    if float(history["y"].abs().sum()) == 0.0:
        # Stan cannot scale an all-zero series; the forecast of nothing is nothing.
        ds = future_index(history["ds"].iloc[-1], periods, granularity)
        zeros = np.zeros(periods)
        return _finish(ds, zeros, zeros, zeros)
    future = future_index(history["ds"].iloc[-1], periods, granularity)
    hol = None
    if holidays is not None and len(holidays):
        first, last = history["ds"].iloc[0].normalize(), future[-1].normalize()
        spans = holidays.assign(
            start=holidays["ds"] + pd.to_timedelta(holidays["lower_window"], unit="D"),
            end=holidays["ds"] + pd.to_timedelta(holidays["upper_window"], unit="D"))
        hol = spans[(spans["end"] >= first) & (spans["start"] <= last)][
            ["holiday", "ds", "lower_window", "upper_window"]].reset_index(drop=True)
        hol = hol if len(hol) else None
    log = transform == "log" or (transform == "auto" and float(history["y"].mean()) >= LOG_TRANSFORM_MIN_MEAN)
    model = Prophet(
        growth="linear",
        yearly_seasonality=False,
        weekly_seasonality=True,
        daily_seasonality=False,
        seasonality_mode="additive" if log else seasonality_mode,
        holidays=hol,
        interval_width=interval_width,
        uncertainty_samples=uncertainty_samples,
    )
    train = history[["ds", "y"]]
    frame = pd.DataFrame({"ds": future})
    if granularity == "hourly":
        # Weekends have their own shape of day (later start, no lunch dip); one daily curve shared
        # by all seven days misplaces the weekend peaks.
        for name, weekend in (("daily_weekday", False), ("daily_weekend", True)):
            model.add_seasonality(name=name, period=1, fourier_order=8, condition_name=f"is_{name}")
            train = train.assign(**{f"is_{name}": (train["ds"].dt.weekday >= 5) == weekend})
            frame = frame.assign(**{f"is_{name}": (frame["ds"].dt.weekday >= 5) == weekend})
    if log:
        train = train.assign(y=np.log1p(train["y"].clip(lower=0)))
    np.random.seed(seed % (2**32))
    model.fit(train, seed=seed % (2**31))
    np.random.seed(seed % (2**32))
    out = model.predict(frame)
    if log:
        out = out[["yhat", "yhat_lower", "yhat_upper"]].apply(np.expm1)
    return _finish(future, out["yhat"].to_numpy(), out["yhat_lower"].to_numpy(), out["yhat_upper"].to_numpy())


# ---- tasks ---------------------------------------------------------------------------------

def series_seed(base_seed: int, *key: object) -> int:
    """A seed per series that does not depend on Python's randomised ``hash``."""
    return (int(base_seed) * 1_000_003 + zlib.crc32("|".join(map(str, key)).encode())) % (2**31 - 1)


def _check_history(history: pd.DataFrame, granularity: str, config: ForecastConfig) -> None:
    need_days = int(config.min_history_days.get(granularity, DEFAULT_MIN_HISTORY_DAYS[granularity]))
    need = max(_periods(need_days, granularity), GRANULARITIES[granularity]["season"])
    if len(history) < need:
        days = len(history) / GRANULARITIES[granularity]["per_day"]
        raise SeriesTooShort(f"{days:g} days of {granularity} history, {need_days} needed")


def forecast_series(task: dict[str, Any]) -> dict[str, Any]:
    """Forecast one series over the horizon with Prophet (seasonal naive if Prophet fails).

    ``task``: key (dict of identifying columns), granularity, history (DataFrame ds, y),
    holidays (DataFrame or None), config (:class:`ForecastConfig`). Returns the key, a status
    (ok | fallback | skipped), a reason, and the forecast frame with ``model`` and ``is_peak``.
    """
    key, granularity, history, config = task["key"], task["granularity"], task["history"], task["config"]
    result: dict[str, Any] = {"key": key, "granularity": granularity, "status": "ok", "reason": None,
                              "forecast": None, "history_periods": int(len(history)),
                              "history_span": (history["ds"].iloc[0], history["ds"].iloc[-1]) if len(history) else None}
    try:
        _check_history(history, granularity, config)
    except SeriesTooShort as exc:
        result.update(status="skipped", reason=str(exc))
        return result
    periods = _periods(config.horizon_days, granularity)
    seed = series_seed(config.seed, granularity, *key.values())
    try:
        frame = prophet_forecast(history, granularity, periods, task.get("holidays"), config.interval_width,
                                 seed, config.uncertainty_samples, config.seasonality_mode, config.transform)
        model = "prophet"
    except Exception as exc:  # Stan can fail to converge on degenerate series; the baseline still plans
        try:
            frame = seasonal_naive_forecast(history, granularity, periods, config.interval_width)
        except Exception as naive_exc:  # nothing usable: say why rather than fail every other series
            result.update(status="skipped", reason=f"prophet failed ({type(exc).__name__}: {exc}); "
                                                   f"seasonal naive failed ({type(naive_exc).__name__}: {naive_exc})")
            return result
        model = "seasonal_naive"
        result.update(status="fallback", reason=f"prophet failed ({type(exc).__name__}: {exc}); seasonal naive used")
    frame["model"] = model
    frame["is_peak"] = top_share_mask(frame["yhat"].to_numpy(), config.peak_share)
    result["forecast"] = frame
    return result


def backtest_origins(n_periods: int, granularity: str, config: ForecastConfig) -> list[int]:
    """Index of the first test period of each fold, oldest first; the newest fold ends at the data's end."""
    horizon = _periods(config.backtest_horizon_days, granularity)
    step = max(1, _periods(config.backtest_step_days, granularity))
    origins = [n_periods - horizon - i * step for i in range(max(0, int(config.backtest_folds)))]
    return sorted(o for o in origins if o > 0)


def backtest_series(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Rolling-origin backtest of one series: one row per fold with both models' metrics.

    A fold whose training window is too short gives a row with status ``skipped`` and the
    reason, so the table says why a series has no score instead of silently lacking it.
    """
    key, granularity, history, config = task["key"], task["granularity"], task["history"], task["config"]
    horizon = _periods(config.backtest_horizon_days, granularity)
    rows: list[dict[str, Any]] = []
    origins = backtest_origins(len(history), granularity, config)
    if not origins:
        days = len(history) / GRANULARITIES[granularity]["per_day"]
        return [{**key, "granularity": granularity, "fold": None, "origin": None, "train_periods": len(history),
                 "test_periods": 0, "status": "skipped",
                 "reason": f"{days:g} days of history cannot hold a {config.backtest_horizon_days}-day test window"}]
    for fold, origin in enumerate(origins, start=1):
        train = history.iloc[:origin].reset_index(drop=True)
        test = history.iloc[origin:origin + horizon].reset_index(drop=True)
        row: dict[str, Any] = {**key, "granularity": granularity, "fold": fold,
                               "origin": history["ds"].iloc[origin], "train_periods": len(train),
                               "test_periods": len(test), "status": "ok", "reason": None,
                               "actual_total": float(test["y"].sum())}
        try:
            _check_history(train, granularity, config)
        except SeriesTooShort as exc:
            row.update(status="skipped", reason=f"training window: {exc}")
            rows.append(row)
            continue
        seed = series_seed(config.seed, granularity, fold, *key.values())
        actual = test["y"].to_numpy(dtype=float)
        forecasts: dict[str, pd.DataFrame | None] = {}
        try:
            forecasts["prophet"] = prophet_forecast(train, granularity, len(test), task.get("holidays"),
                                                    config.interval_width, seed, config.uncertainty_samples,
                                                    config.seasonality_mode, config.transform)
        except Exception as exc:
            forecasts["prophet"] = None
            row.update(status="partial", reason=f"prophet failed ({type(exc).__name__}: {exc})")
        forecasts["naive"] = seasonal_naive_forecast(train, granularity, len(test), config.interval_width)
        for name, frame in forecasts.items():
            if frame is None:
                row.update({f"{name}_{m}": None for m in ("mape", "smape", "coverage", "peak_recall", "total")})
                continue
            row[f"{name}_mape"] = _none_if_nan(mape(actual, frame["yhat"]))
            row[f"{name}_smape"] = _none_if_nan(smape(actual, frame["yhat"]))
            row[f"{name}_coverage"] = _none_if_nan(interval_coverage(actual, frame["yhat_lower"], frame["yhat_upper"]))
            row[f"{name}_peak_recall"] = _none_if_nan(peak_recall(actual, frame["yhat"], config.peak_share))
            row[f"{name}_total"] = float(frame["yhat"].sum())
        rows.append(row)
    return rows


def _none_if_nan(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# ---- parallel execution --------------------------------------------------------------------

def forecast_workers() -> int:
    """Worker processes: ``SI_FORECAST_WORKERS`` if set (1 = no pool), else CPU count capped at 2."""
    raw = os.environ.get("SI_FORECAST_WORKERS", "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError as exc:
            raise ValueError(f"environment variable SI_FORECAST_WORKERS={raw!r} must be an integer") from exc
    return max(1, min(os.cpu_count() or 1, 2))


def run_tasks(fn: Callable[[dict[str, Any]], Any], tasks: list[dict[str, Any]],
              workers: int | None = None) -> list[Any]:
    """``[fn(t) for t in tasks]``, in order, spread over a process pool when it can help.

    Why forkserver, not fork: dbt and Dagster run models inside threaded processes, and
    forking a process with live threads can deadlock the child on a lock held at fork time.
    The fork server is a fresh single-threaded process that imports Prophet once and forks
    the workers from there, so they start in milliseconds instead of re-importing everything
    as spawned workers would (measured: 6 series 5.4 s vs 6.9 s with spawn). With one worker
    or one task everything runs in-process.
    """
    workers = forecast_workers() if workers is None else max(1, int(workers))
    if workers == 1 or len(tasks) <= 1:
        silence_stan_logging()
        return [fn(t) for t in tasks]
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["ml.forecasting", "prophet"])
    chunk = max(1, len(tasks) // (workers * 4))
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                             initializer=silence_stan_logging) as pool:
        return list(pool.map(fn, tasks, chunksize=chunk))


# ---- helpers for the dbt models ------------------------------------------------------------

def holidays_for_prophet(rows: pd.DataFrame, country: str, effects: str = "kind") -> pd.DataFrame:
    """The seed's rows for one country, as Prophet wants them (holiday, ds, lower/upper window).

    ``effects="kind"`` (the default) gives Prophet one effect per kind of day rather than per
    named holiday: every public day off shares one effect, the festivals share one effect per
    day of their ramp, and the returns waves one per day after. Why: a few months of history
    hold each named holiday at most once, and a holiday never seen has no learnt effect at all;
    by kind, the Mid-Autumn days teach the National Day ones, and a 618 teaches the first
    Double 11. ``effects="name"`` keeps one effect per named holiday (years of history).

    Rows with an unparseable date or window are dropped rather than failing the build: the
    seed is edited by hand.
    """
    columns = ["holiday", "ds", "lower_window", "upper_window"]
    if rows is None or len(rows) == 0:
        return pd.DataFrame(columns=columns)
    frame = rows[rows["country"].astype(str).str.upper() == str(country).upper()].copy()
    frame["ds"] = pd.to_datetime(frame["holiday_date"], errors="coerce")
    frame["lower_window"] = pd.to_numeric(frame["lower_window"], errors="coerce")
    frame["upper_window"] = pd.to_numeric(frame["upper_window"], errors="coerce")
    frame = frame.dropna(subset=["ds", "lower_window", "upper_window"])
    frame["lower_window"] = frame["lower_window"].clip(upper=0).astype(int)
    frame["upper_window"] = frame["upper_window"].clip(lower=0).astype(int)
    if effects != "kind":
        frame["holiday"] = frame["holiday"].astype(str)
        return frame[columns].reset_index(drop=True)
    frame["holiday"] = frame["kind"].astype(str)
    public = frame[frame["holiday"] == "public"]
    days = [(d + pd.Timedelta(days=k)) for d, lo, hi in zip(public["ds"], public["lower_window"],
                                                           public["upper_window"]) for k in range(lo, hi + 1)]
    spread = pd.DataFrame({"holiday": "public", "ds": days, "lower_window": 0, "upper_window": 0})
    spread = spread.drop_duplicates(subset=["ds"])
    return pd.concat([frame[frame["holiday"] != "public"][columns], spread[columns]],
                     ignore_index=True).sort_values(["ds", "holiday"]).reset_index(drop=True)


def build_series(counts: pd.DataFrame, granularity: str, end: pd.Timestamp) -> dict[tuple[str, str], pd.DataFrame]:
    """Zero-filled series per (channel, queue_id) plus a channel total (queue_id ``all``).

    ``counts`` has ds (period start, hourly), channel, queue_id, contacts. A series starts at
    its own first contact (a queue opened last week has one week of history, not six weeks of
    zeros) and ends at ``end``, the last period of the data, so quiet queues run up to today.
    """
    out: dict[tuple[str, str], pd.DataFrame] = {}
    if counts is None or len(counts) == 0:
        return out
    frame = counts.copy()
    frame["ds"] = pd.to_datetime(frame["ds"])
    if granularity == "daily":
        frame["ds"] = frame["ds"].dt.normalize()
        end = pd.Timestamp(end).normalize()
    freq = GRANULARITIES[granularity]["freq"]
    totals = frame.assign(queue_id="all")
    for (channel, queue_id), group in pd.concat([totals, frame]).groupby(["channel", "queue_id"], sort=True):
        sums = group.groupby("ds")["contacts"].sum()
        index = pd.date_range(sums.index.min().normalize(), max(pd.Timestamp(end), sums.index.max()), freq=freq)
        series = sums.reindex(index, fill_value=0).astype(float)
        out[(str(channel), str(queue_id))] = pd.DataFrame({"ds": index, "y": series.to_numpy()})
    return out


# ---- glue for the dbt Python models --------------------------------------------------------

SERIES_LEVELS = ("channel", "queue")

FORECAST_COLUMNS: dict[str, str] = {
    "series_key": "object", "channel": "object", "queue_id": "object", "series_level": "object",
    "granularity": "object", "period_start": "datetime64[ns]", "period_date": "date",
    "period_hour": "Int64", "model": "object", "yhat": "float64", "yhat_lower": "float64",
    "yhat_upper": "float64", "is_peak": "boolean", "status": "object", "status_reason": "object",
    "history_start": "datetime64[ns]", "history_end": "datetime64[ns]", "history_periods": "Int64",
    "horizon_days": "Int64", "interval_width": "float64",
}

_METRICS = ("mape", "smape", "coverage", "peak_recall", "total")
BACKTEST_COLUMNS: dict[str, str] = {
    "series_key": "object", "channel": "object", "queue_id": "object", "series_level": "object",
    "granularity": "object", "fold": "Int64", "origin": "datetime64[ns]", "train_periods": "Int64",
    "test_periods": "Int64", "status": "object", "status_reason": "object", "actual_total": "float64",
    **{f"prophet_{m}": "float64" for m in _METRICS},
    **{f"naive_{m}": "float64" for m in _METRICS},
    "mape_winner": "object", "interval_width": "float64", "peak_share": "float64",
}


def clamp_int(value: Any, default: int, low: int, high: int) -> int:
    """``value`` as an int within [low, high]; ``default`` when it cannot be read."""
    try:
        return min(max(int(float(value)), low), high)
    except (TypeError, ValueError):
        return default


def clamp_float(value: Any, default: float, low: float, high: float) -> float:
    """``value`` as a finite float within [low, high]; ``default`` when it cannot be read."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, low), high) if math.isfinite(number) else default


def config_from_values(values: dict[str, Any]) -> ForecastConfig:
    """A :class:`ForecastConfig` from dbt config values (strings once Jinja has rendered them).

    Out-of-range values are clamped and unreadable ones fall back to the default, so a typo in
    ``--vars`` degrades a forecast instead of failing the nightly build.
    """
    d = ForecastConfig()
    transform = str(values.get("transform") or d.transform).strip().lower()
    return ForecastConfig(
        horizon_days=clamp_int(values.get("horizon_days"), d.horizon_days, 1, 366),
        interval_width=clamp_float(values.get("interval_width"), d.interval_width, 0.5, 0.99),
        seed=clamp_int(values.get("seed"), d.seed, 0, 2**31 - 2),
        peak_share=clamp_float(values.get("peak_share"), d.peak_share, 0.01, 0.5),
        min_history_days={g: clamp_int(values.get(f"min_history_days_{g}"), DEFAULT_MIN_HISTORY_DAYS[g], 8, 3650)
                          for g in GRANULARITIES},
        backtest_folds=clamp_int(values.get("backtest_folds"), d.backtest_folds, 0, 52),
        backtest_horizon_days=clamp_int(values.get("backtest_horizon_days"), d.backtest_horizon_days, 1, 366),
        backtest_step_days=clamp_int(values.get("backtest_step_days"), d.backtest_step_days, 1, 366),
        transform=transform if transform in ("auto", "log", "none") else d.transform,
    )


def parse_levels(value: Any) -> tuple[str, ...]:
    """Series levels from a var: a list, or a comma-separated string; unknown names are ignored."""
    if value is None:
        return SERIES_LEVELS
    items = value if isinstance(value, (list, tuple)) else str(value).strip("[]").replace("'", "").split(",")
    levels = tuple(lvl for lvl in SERIES_LEVELS if lvl in {str(i).strip() for i in items})
    return levels or SERIES_LEVELS


def series_tasks(counts: pd.DataFrame, holidays: pd.DataFrame | None, config: ForecastConfig,
                 granularities: Iterable[str] = ("daily", "hourly"),
                 levels: Iterable[str] = SERIES_LEVELS) -> list[dict[str, Any]]:
    """One task per (channel, queue, granularity) for :func:`forecast_series` / :func:`backtest_series`.

    ``counts``: hourly rows with period_start, channel, queue_id, offered_contacts. Every
    series ends on the last hour of the last day seen anywhere in the data.
    """
    if counts is None or len(counts) == 0:
        return []
    frame = counts.rename(columns={"period_start": "ds", "offered_contacts": "contacts"})
    frame = frame.dropna(subset=["ds", "channel"]).assign(queue_id=lambda f: f["queue_id"].fillna("unknown"))
    if len(frame) == 0:
        return []
    last_day = pd.to_datetime(frame["ds"]).max().normalize()
    levels = set(levels)
    tasks = []
    for granularity in granularities:
        end = last_day + pd.Timedelta(hours=23) if granularity == "hourly" else last_day
        for (channel, queue_id), history in build_series(frame, granularity, end).items():
            level = "channel" if queue_id == "all" else "queue"
            if level not in levels:
                continue
            tasks.append({"key": {"channel": channel, "queue_id": queue_id, "series_level": level},
                          "granularity": granularity, "history": history, "holidays": holidays,
                          "config": config})
    return tasks


def typed_frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    """Rows as a frame with exactly ``columns`` and their dtypes (NaN becomes NULL in DuckDB).

    Why: DuckDB infers column types from the frame; an empty or all-null column would come out
    as INTEGER or fail, and a NaN metric would be stored as NaN rather than NULL.
    """
    frame = pd.DataFrame(rows, columns=list(columns))
    for name, dtype in columns.items():
        if dtype == "date":
            frame[name] = pd.to_datetime(frame[name], errors="coerce").dt.date.astype("object")
        elif dtype.startswith("datetime"):
            frame[name] = pd.to_datetime(frame[name], errors="coerce").astype("datetime64[us]")
        elif dtype == "float64":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Float64")
        elif dtype in ("Int64", "boolean"):
            frame[name] = frame[name].astype(dtype)
        else:
            frame[name] = frame[name].astype("string")
    return frame


def _series_key(key: dict[str, Any], granularity: str) -> str:
    return f"{key['channel']}|{key['queue_id']}|{granularity}"


def forecast_rows(results: list[dict[str, Any]], config: ForecastConfig) -> list[dict[str, Any]]:
    """Flatten :func:`forecast_series` results to mart rows; a skipped series keeps one reason row."""
    rows: list[dict[str, Any]] = []
    for res in results:
        key, granularity = res["key"], res["granularity"]
        base = {**key, "series_key": _series_key(key, granularity), "granularity": granularity,
                "status": res["status"], "status_reason": res["reason"], "history_periods": res["history_periods"],
                "horizon_days": config.horizon_days, "interval_width": config.interval_width}
        history = res.get("history_span") or (None, None)
        base["history_start"], base["history_end"] = history
        frame = res.get("forecast")
        if frame is None:
            rows.append(base)
            continue
        for rec in frame.itertuples(index=False):
            ds = pd.Timestamp(rec.ds)
            rows.append({**base, "period_start": ds, "period_date": ds.normalize(),
                         "period_hour": ds.hour if granularity == "hourly" else None, "model": rec.model,
                         "yhat": rec.yhat, "yhat_lower": rec.yhat_lower, "yhat_upper": rec.yhat_upper,
                         "is_peak": bool(rec.is_peak)})
    return rows


def backtest_rows(results: list[list[dict[str, Any]]], config: ForecastConfig) -> list[dict[str, Any]]:
    """Flatten :func:`backtest_series` results and name the MAPE winner of each fold."""
    rows = []
    for series_rows in results:
        for row in series_rows:
            row = dict(row)
            row["series_key"] = _series_key(row, row["granularity"])
            row["status_reason"] = row.pop("reason", None)
            p, n = row.get("prophet_mape"), row.get("naive_mape")
            if p is None or n is None:
                row["mape_winner"] = None
            else:
                row["mape_winner"] = "tie" if abs(p - n) < 1e-9 else ("prophet" if p < n else "seasonal_naive")
            row["interval_width"] = config.interval_width
            row["peak_share"] = config.peak_share
            rows.append(row)
    return rows


def tasks_from_dbt(dbt, config_keys: tuple[str, ...], counts: pd.DataFrame,
                   holiday_rows: pd.DataFrame) -> tuple[list, ForecastConfig]:
    """(series tasks, config) for a dbt Python model from its config values (set from vars in YAML), the
    offered-contact counts and the holiday seed: the forecast and the backtest read them the same way.
    The frames come from the model itself, since dbt finds a Python model's parents by its ``dbt.ref`` calls."""
    config = config_from_values({key: dbt.config.get(key) for key in config_keys})
    levels = parse_levels(dbt.config.get("series_levels"))
    holidays = holidays_for_prophet(holiday_rows, dbt.config.get("country") or "CN",
                                    dbt.config.get("holiday_effects") or "kind")
    return series_tasks(counts, holidays, config, levels=levels), config
