"""Contact-volume forecasts (scenario 7): several models per series, the one that wins its backtest publishes.

Why several models: no single model wins everywhere. On a real bank's hourly calls Prophet lost to
"same hour last week"; on the generator's busy channels state-space ETS wins by far. So every
series is forecast by each candidate over a rolling-origin backtest (fit on everything before an
origin, score the next days, move the origin back a step) and the candidate with the lowest mean
RMSE over the folds is the one the warehouse publishes (``selection_metric``; see
:func:`choose_model` for why not sMAPE; ties go to the simpler model; one that fails on any fold
is out). The candidates, simplest first:

- ``seasonal_naive``: same weekday, or same hour of the same weekday, a week earlier. The
  baseline every other model has to beat.
- ``seasonal_es``: seasonal exponential smoothing, each slot of the week smoothed on its own
  (statsforecast). Robust when the weekly pattern itself moves.
- ``ets``: state-space exponential smoothing (statsforecast): AutoETS with the weekly season on
  daily series; on hourly series MSTL (STL takes the daily and weekly cycles out, AutoETS
  smooths the rest), because ETS cannot hold a 168-period season. Follows trends.
  statsforecast 2.x runs on a compiled C++ core: no JIT; importing it costs about 1.4 s once
  per process (preloaded in the worker pool), a fit milliseconds to a few tenths of a second.
- ``top_down`` (hourly only): a daily forecast of the day's total (seasonal_es or ets, whichever
  holds out better on the last days) spread over the hours by the intraday profile of the same
  weekday over the last ``profile_weeks`` weeks. Call centres repeat the shape of a Monday far
  more faithfully than its level, so the level is forecast where it is least noisy and the
  shape is measured, not modelled.
- ``prophet``: trend, weekly and daily seasonality and the holiday calendar the analysts keep
  in the ``holidays`` seed (the only candidate that knows holidays).

Closed periods. A centre that closes at night or at weekends has no arrivals then. Zero-filled,
those hours would pass for demand that fell to nothing: seasonal models spend their seasonality
on the open/closed switch, Prophet's smooth daily curve is dragged towards zero at both ends of
the day, and sMAPE rewards whoever forecasts 0 at 3 a.m. So a weekly slot (a weekday, or a
weekday and hour) without a single arrival in the last ``closed_lookback_weeks`` weeks, on a
series busy enough for that to mean something (:data:`CLOSED_SLOT_MIN_ARRIVALS`), is
*closed*: models fit and forecast the open slots only (a compressed series in which one season is
one week of open slots, so the weekly structure survives), a closed slot is forecast as 0 with a
[0, 0] interval, and scores count open periods only, plus any closed period in which arrivals did
happen (a change of opening hours is an error, not an excuse). A whole open day without one
arrival, on a series whose typical day of that weekday has at least
:data:`CLOSED_DAY_MIN_CONTACTS`, is a *closed day* (a public holiday, an outage): it is imputed
from the same slot a week earlier for the models that need a regular series, left out of
Prophet's fit, and left out of the scores.

Metrics: MAPE (over periods with non-zero actuals; zero actuals make it undefined), sMAPE
(defined everywhere, 0/0 counts as a perfect 0), MAE and RMSE (contacts per period), interval
coverage (share of actuals inside the forecast interval; an 80% interval should cover about
80%), and peak recall: of the periods in the actual top decile, the share that the forecast also
put in its own top decile. Peak recall is what staffing cares about: a forecast can have a good
MAPE and still miss every surge.

Intervals are calibrated on the backtest (split-conformal scaling): each model's own interval is
stretched or shrunk, separately above and below the forecast, by the factor that makes the
backtest's actuals fall outside each side (1 - width) / 2 of the time. The published forecast
uses the factor of all folds; the coverage the backtest reports for a fold uses the factor of the
other folds only (cross-conformal), so it is not graded on its own answers.
``raw_coverage`` keeps the model's uncalibrated figure.

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
import time
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
# Why bounded: a stray years-old event would otherwise make a series of tens of thousands of empty
# periods (one 2011 tweet in a 2017 export: 54,912 hourly periods), slow to fit and all noise. Two
# years of days keep the yearly shape. A year of hours, not less: on the real bank arrivals
# (../shared/data/bank_calls_5min, 7.5 months, 4 hourly folds of 7 days) cutting the hours to the
# last 120 days raised the chosen model's RMSE from 207 to 222 and sMAPE from 0.093 to 0.101.
DEFAULT_MAX_HISTORY_DAYS = {"daily": 730, "hourly": 365}

# Candidates, simplest first: a tie on the backtest goes to the earlier one.
MODEL_NAMES = ("seasonal_naive", "seasonal_es", "ets", "top_down", "prophet")
SELECTION_METRICS = ("rmse", "mae", "smape", "mape")
BASELINE = "seasonal_naive"
# Published when a series is too short for a single backtest fold (the pre-selection behaviour).
DEFAULT_MODEL = "prophet"
# A weekly slot without arrivals is closed only where the lookback window brought at least this
# many arrivals per slot on average: an open slot of average demand then stays empty with
# probability e^-5 < 1%.
CLOSED_SLOT_MIN_ARRIVALS = 5.0
# A day of an open weekday with no arrival at all counts as closed (holiday, outage) only where
# such a day normally brings at least this many: at 20 expected contacts a Poisson day is empty
# with probability 2e-9, so a real quiet day is never mistaken for a closure.
CLOSED_DAY_MIN_CONTACTS = 20.0
# Interval half-widths are at least half a contact before conformal scaling, so that a model
# sure of a zero still gets an interval it can widen.
INTERVAL_FLOOR = 0.5
MAX_INTERVAL_SCALE = 50.0


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
    models: tuple[str, ...] = MODEL_NAMES
    models_hourly: tuple[str, ...] | None = None  # hourly candidates, when they differ from ``models``
    closed_lookback_weeks: int = 6  # 0 turns closed-period detection off
    profile_weeks: int = 8
    calibrate_intervals: bool = True
    selection_metric: str = "rmse"  # rmse | mae | smape | mape (see choose_model)
    # History read per series: at most this many days back from the last day of data, and only what
    # follows the last stretch of more than ``max_gap_days`` days without a contact (0 = no gap rule).
    max_history_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MAX_HISTORY_DAYS))
    max_gap_days: int = 28


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


def mae(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute error, in contacts per period; NaN for no periods."""
    a, p = _clean_pair(actual, predicted)
    return float(np.mean(np.abs(a - p))) if a.size else math.nan


def rmse(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Root mean squared error, in contacts per period; NaN for no periods.

    The selection criterion by default: squared error is minimised by the expected count,
    which is what Erlang C staffs for, and, unlike sMAPE, it does not reward forecasting an
    exact 0 in the quiet hours of a sparse queue.
    """
    a, p = _clean_pair(actual, predicted)
    return float(np.sqrt(np.mean((a - p) ** 2))) if a.size else math.nan


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


# ---- open and closed periods ---------------------------------------------------------------

def _periods(days: int, granularity: str) -> int:
    return int(days) * GRANULARITIES[granularity]["per_day"]


def future_index(last_ds: pd.Timestamp, periods: int, granularity: str) -> pd.DatetimeIndex:
    """The ``periods`` period starts that follow ``last_ds``."""
    freq = GRANULARITIES[granularity]["freq"]
    return pd.date_range(pd.Timestamp(last_ds), periods=periods + 1, freq=freq)[1:]


def weekly_slots(ds: Iterable[pd.Timestamp], granularity: str) -> np.ndarray:
    """Position of each period in its week: the weekday (daily) or weekday x 24 + hour (hourly)."""
    index = pd.DatetimeIndex(ds)
    if GRANULARITIES[granularity]["per_day"] == 1:
        return index.weekday.to_numpy()
    return index.weekday.to_numpy() * 24 + index.hour.to_numpy()


def opening_pattern(ds: pd.DatetimeIndex, y: np.ndarray, granularity: str, lookback_weeks: int) -> np.ndarray:
    """Open flag per weekly slot: the slot had an arrival in the last ``lookback_weeks`` weeks.

    An empty slot is closed only on a series busy enough for emptiness to mean something: the
    window's arrivals per slot must reach :data:`CLOSED_SLOT_MIN_ARRIVALS` (a queue with a few
    contacts a week leaves most hours empty by chance, and closing them would bias its forecast
    down). A slot the window never reached is taken as open (nothing says it is closed);
    ``lookback_weeks`` 0 or less opens every slot (closed-period handling off).
    """
    season = GRANULARITIES[granularity]["season"]
    if len(ds) == 0 or lookback_weeks <= 0:
        return np.ones(season, dtype=bool)
    recent = ds > ds[-1] - pd.Timedelta(weeks=int(lookback_weeks))
    if float(np.clip(y[recent], 0, None).sum()) / season < CLOSED_SLOT_MIN_ARRIVALS:
        return np.ones(season, dtype=bool)
    slots = weekly_slots(ds[recent], granularity)
    seen = np.bincount(slots, minlength=season) > 0
    busy = np.bincount(slots, weights=(y[recent] > 0).astype(float), minlength=season) > 0
    return busy | ~seen


def closed_day_rows(ds: pd.DatetimeIndex, y: np.ndarray, open_rows: np.ndarray) -> np.ndarray:
    """Rows on days whose open slots brought nothing while that weekday typically brings
    :data:`CLOSED_DAY_MIN_CONTACTS` or more: closures (holidays, outages), not demand."""
    closed = np.zeros(len(ds), dtype=bool)
    if not open_rows.any():
        return closed
    days = ds.normalize()
    totals = pd.Series(y[open_rows], index=days[open_rows]).groupby(level=0).sum()
    typical = totals.groupby(totals.index.weekday).transform("median")
    shut = totals.index[(totals.to_numpy() == 0) & (typical.to_numpy() >= CLOSED_DAY_MIN_CONTACTS)]
    if len(shut):
        closed = np.asarray(days.isin(shut))
    return closed


def _impute_closed(y: np.ndarray, observed: np.ndarray, season: int) -> np.ndarray:
    """Values of closed days replaced by the same slot a week earlier (later, at the very start)."""
    y = y.astype(float).copy()
    if observed.all():
        return y
    if not observed.any() or season <= 0:
        return np.zeros_like(y)
    fallback = float(np.mean(y[observed]))
    gaps = np.flatnonzero(~observed)
    for i in gaps[gaps < season]:
        k = i + season
        while k < y.size and not observed[k]:
            k += season
        y[i] = y[k] if k < y.size else fallback
    for i in gaps[gaps >= season]:
        y[i] = y[i - season]
    return y


@dataclass(frozen=True)
class OpenView:
    """A history reduced to its open periods: what every model fits.

    ``y`` keeps one value per open slot in time order, closed days imputed (``observed`` False
    there), so ``season`` consecutive values are always one week of open slots.
    """

    granularity: str
    pattern: np.ndarray
    ds: pd.DatetimeIndex
    y: np.ndarray
    observed: np.ndarray
    season: int
    per_day: int | None
    last_ds: pd.Timestamp

    def future(self, periods: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """The next ``periods`` periods and which of them are open."""
        full = future_index(self.last_ds, periods, self.granularity)
        return full, self.pattern[weekly_slots(full, self.granularity)]


def open_view(history: pd.DataFrame, granularity: str, lookback_weeks: int = 6) -> OpenView:
    """The open periods of ``history`` (columns ds, y on a regular grid)."""
    ds = pd.DatetimeIndex(history["ds"])
    y = history["y"].to_numpy(dtype=float)
    pattern = opening_pattern(ds, y, granularity, lookback_weeks)
    open_rows = pattern[weekly_slots(ds, granularity)] if len(ds) else np.zeros(0, dtype=bool)
    closed = closed_day_rows(ds, y, open_rows)
    season = int(pattern.sum())
    per_day: int | None = 1
    if granularity == "hourly":
        hours = pattern.reshape(7, 24).sum(axis=1)
        hours = hours[hours > 0]
        per_day = int(hours[0]) if hours.size and (hours == hours[0]).all() else None
    observed = ~closed[open_rows]
    return OpenView(granularity=granularity, pattern=pattern, ds=ds[open_rows],
                    y=_impute_closed(y[open_rows], observed, season), observed=observed, season=season,
                    per_day=per_day, last_ds=ds[-1] if len(ds) else pd.Timestamp("1970-01-01"))


def scored_mask(history: pd.DataFrame, test: pd.DataFrame, granularity: str, lookback_weeks: int) -> np.ndarray:
    """Test periods a backtest scores: open by the training window's pattern and not on a closed
    day, plus every period that had arrivals whatever the pattern said."""
    pattern = opening_pattern(pd.DatetimeIndex(history["ds"]), history["y"].to_numpy(dtype=float),
                              granularity, lookback_weeks)
    both = pd.concat([history[["ds", "y"]], test[["ds", "y"]]], ignore_index=True)
    ds = pd.DatetimeIndex(both["ds"])
    y = both["y"].to_numpy(dtype=float)
    open_rows = pattern[weekly_slots(ds, granularity)]
    keep = open_rows & ~closed_day_rows(ds, y, open_rows)
    return (keep | (y > 0))[len(history):]


# ---- models --------------------------------------------------------------------------------

def _finish(ds: pd.DatetimeIndex, yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            is_open: np.ndarray | None = None) -> pd.DataFrame:
    """Counts cannot be negative, an interval must contain its point forecast, a closed period is 0."""
    yhat = np.clip(np.asarray(yhat, dtype=float), 0.0, None)
    lower = np.minimum(np.clip(np.asarray(lower, dtype=float), 0.0, None), yhat)
    upper = np.maximum(np.asarray(upper, dtype=float), yhat)
    is_open = np.ones(len(ds), dtype=bool) if is_open is None else np.asarray(is_open, dtype=bool)
    zero = ~is_open
    yhat[zero] = lower[zero] = upper[zero] = 0.0
    return pd.DataFrame({"ds": ds, "yhat": yhat, "yhat_lower": lower, "yhat_upper": upper, "is_open": is_open})


def _on_open_periods(history: pd.DataFrame, granularity: str, periods: int, lookback_weeks: int,
                     core: Callable[[OpenView, pd.DatetimeIndex], tuple[np.ndarray, np.ndarray, np.ndarray]]
                     ) -> pd.DataFrame:
    """Run ``core`` on the open periods of ``history`` and lay its forecast on the full grid."""
    view = open_view(history, granularity, lookback_weeks)
    full, is_open = view.future(periods)
    yhat, lower, upper = (np.zeros(periods) for _ in range(3))
    if is_open.any():
        f, lo, hi = core(view, full[is_open])
        yhat[is_open], lower[is_open], upper[is_open] = f, lo, hi
    return _finish(full, yhat, lower, upper, is_open)


def _use_log(view: OpenView, transform: str) -> bool:
    observed = view.y[view.observed]
    return transform == "log" or (transform == "auto" and observed.size > 0
                                  and float(observed.mean()) >= LOG_TRANSFORM_MIN_MEAN)


def seasonal_naive_forecast(history: pd.DataFrame, granularity: str, periods: int,
                            interval_width: float = 0.8, lookback_weeks: int = 6) -> pd.DataFrame:
    """Repeat the last observed week of open periods (same weekday / same hour of the same weekday).

    The interval comes from the history's own seasonal differences y[t] - y[t - season]:
    their empirical quantiles, widened by sqrt(k) for the k-th season ahead (errors of a
    random walk over seasons add up).
    """
    def core(view: OpenView, future: pd.DatetimeIndex):
        season, y = view.season, view.y
        if y.size < season:
            raise SeriesTooShort(f"seasonal naive needs one full week ({season} open periods), history has {y.size}")
        steps = np.arange(len(future))
        yhat = y[-season:][steps % season]
        real = view.observed[season:] & view.observed[:-season]
        diffs = (y[season:] - y[:-season])[real]
        alpha = (1.0 - min(max(interval_width, 0.0), 1.0)) / 2.0
        lo_q, hi_q = np.quantile(diffs, [alpha, 1.0 - alpha]) if diffs.size else (0.0, 0.0)
        widen = np.sqrt(steps // season + 1)
        return yhat, yhat + lo_q * widen, yhat + hi_q * widen

    return _on_open_periods(history, granularity, periods, lookback_weeks, core)


def seasonal_es_forecast(history: pd.DataFrame, granularity: str, periods: int, interval_width: float = 0.8,
                         transform: str = "auto", lookback_weeks: int = 6) -> pd.DataFrame:
    """Seasonal exponential smoothing: each open slot of the week smoothed on its own history.

    statsforecast's SeasonalExponentialSmoothingOptimized fits one smoothing weight per slot
    to that slot's week-ahead errors, so every Monday 10:00 is a weighted mean of past Mondays
    10:00, recent ones weighing more. It sits between seasonal naive (weight 1: last week only)
    and a long seasonal mean: it averages the noise away, yet follows a weekly pattern that
    moves within a few weeks, which a state-space ETS, fitted to one-step errors, follows
    slowly. The interval comes from the empirical quantiles of those week-ahead errors,
    widened by sqrt(k) for the k-th week ahead. Busy series are smoothed on log(1 + y).
    """
    from statsforecast.models import SeasonalExponentialSmoothingOptimized

    def core(view: OpenView, future: pd.DatetimeIndex):
        season, h = view.season, len(future)
        if view.y.size < 2 * season:
            raise SeriesTooShort(f"seasonal smoothing needs two weeks ({2 * season} open periods), "
                                 f"history has {view.y.size}")
        log = _use_log(view, transform)
        z = np.log1p(np.clip(view.y, 0.0, None)) if log else view.y
        out = SeasonalExponentialSmoothingOptimized(season_length=season).forecast(y=z, h=h, fitted=True)
        f = np.asarray(out["mean"], dtype=float)
        errors = z - np.asarray(out["fitted"], dtype=float)
        errors = errors[np.isfinite(errors) & view.observed]
        alpha = (1.0 - interval_width) / 2.0
        lo_q, hi_q = np.quantile(errors, [alpha, 1.0 - alpha]) if errors.size else (0.0, 0.0)
        widen = np.sqrt(np.arange(h) // season + 1)
        lo, hi = f + lo_q * widen, f + hi_q * widen
        return (np.expm1(f), np.expm1(lo), np.expm1(hi)) if log else (f, lo, hi)

    return _on_open_periods(history, granularity, periods, lookback_weeks, core)


def ets_forecast(history: pd.DataFrame, granularity: str, periods: int, interval_width: float = 0.8,
                 transform: str = "auto", lookback_weeks: int = 6) -> pd.DataFrame:
    """State-space exponential smoothing (statsforecast) on the open periods.

    Daily: AutoETS with the week of open days as its season (trend and season forms chosen by
    AICc), so it follows a trend. Hourly: MSTL with the open hours of a day and of a week as its
    seasons (when every open day has the same hours; the week alone otherwise) and an AutoETS
    trend without a season, because ETS itself cannot hold a 168-period season. Busy series are
    fitted on log(1 + y), so the seasons multiply the level; errors are additive on that scale
    (multiplicative on the counts), which spares AutoETS the multiplicative-error search: a
    fifth of the time (25 ms instead of 120 ms on 120 days) for the same fit.
    """
    from statsforecast.models import MSTL, AutoETS

    level = int(round(100 * min(max(interval_width, 0.01), 0.99)))

    def core(view: OpenView, future: pd.DatetimeIndex):
        log = _use_log(view, transform)
        z = np.log1p(np.clip(view.y, 0.0, None)) if log else view.y
        if granularity == "daily":
            season = view.season if 2 <= view.season <= 24 and z.size >= 2 * view.season else 1
            model: Any = AutoETS(season_length=season, model="AZZ")
        else:
            seasons = sorted({s for s in (view.per_day or 0, view.season) if 1 < s <= z.size // 2})
            model = (MSTL(season_length=seasons, trend_forecaster=AutoETS(model="AZN")) if seasons
                     else AutoETS(season_length=1, model="AZN"))
        out = model.forecast(y=z, h=len(future), level=[level])
        f, lo, hi = (np.asarray(out[k], dtype=float) for k in ("mean", f"lo-{level}", f"hi-{level}"))
        if not (np.isfinite(f).all() and np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError("exponential smoothing returned non-finite values")
        return (np.expm1(f), np.expm1(lo), np.expm1(hi)) if log else (f, lo, hi)

    return _on_open_periods(history, granularity, periods, lookback_weeks, core)


DAILY_MODELS_FOR_TOP_DOWN = ("seasonal_es", "ets")


def daily_forecast_for_top_down(daily: pd.DataFrame, days: int, interval_width: float, transform: str,
                                lookback_weeks: int) -> tuple[pd.DataFrame, str]:
    """The daily totals' forecast for :func:`top_down_forecast`, and which model made it.

    Of :data:`DAILY_MODELS_FOR_TOP_DOWN`, the one with the lower RMSE on the last
    ``min(days, 14)`` days when fitted on the days before (one inner fold: two daily fits of
    milliseconds to a few tenths of a second); with too little history for that fold, the first.
    """
    fits = {"seasonal_es": seasonal_es_forecast, "ets": ets_forecast}
    holdout = min(days, 14)
    best, errors = DAILY_MODELS_FOR_TOP_DOWN[0], {}
    if len(daily) - holdout >= 21:
        train, test = daily.iloc[:-holdout], daily["y"].to_numpy()[-holdout:]
        for name in DAILY_MODELS_FOR_TOP_DOWN:
            try:
                frame = fits[name](train, "daily", holdout, interval_width, transform, lookback_weeks)
            except Exception:  # the other one may still fit
                continue
            errors[name] = rmse(test, frame["yhat"].to_numpy())
        if errors:
            best = min(errors, key=lambda m: (errors[m], DAILY_MODELS_FOR_TOP_DOWN.index(m)))
    try:
        return fits[best](daily, "daily", days, interval_width, transform, lookback_weeks), best
    except Exception:
        other = next(m for m in DAILY_MODELS_FOR_TOP_DOWN if m != best)
        return fits[other](daily, "daily", days, interval_width, transform, lookback_weeks), other


def intraday_profile(history: pd.DataFrame, weeks: int, lookback_weeks: int = 6) -> np.ndarray:
    """Share of each hour in its day, per weekday (7 x 24), over the last ``weeks`` weeks.

    A ratio of sums (hour's arrivals over the days' arrivals), so a busy day weighs more than a
    quiet one; closed days are left out; a weekday the window never saw open takes the shape of
    all weekdays together.
    """
    view = open_view(history, "hourly", lookback_weeks)
    frame = pd.DataFrame({"ds": view.ds, "y": view.y})[view.observed]
    if frame.empty:
        return np.zeros((7, 24))
    frame = frame[frame["ds"] > frame["ds"].iloc[-1] - pd.Timedelta(weeks=max(1, int(weeks)))]
    sums = np.zeros((7, 24))
    np.add.at(sums, (frame["ds"].dt.weekday.to_numpy(), frame["ds"].dt.hour.to_numpy()), frame["y"].to_numpy())
    totals = sums.sum(axis=1, keepdims=True)
    pooled = sums.sum(axis=0) / max(sums.sum(), 1e-12)
    profile = np.where(totals > 0, sums / np.where(totals > 0, totals, 1.0), pooled)
    return profile * view.pattern.reshape(7, 24)


def top_down_forecast(history: pd.DataFrame, granularity: str, periods: int, interval_width: float = 0.8,
                      transform: str = "auto", lookback_weeks: int = 6, profile_weeks: int = 8) -> pd.DataFrame:
    """Hourly forecast = daily forecast x the intraday profile of the same weekday.

    The daily totals are forecast by :func:`daily_forecast_for_top_down` (seasonal smoothing or
    AutoETS, whichever held out better), the profile is :func:`intraday_profile`. The interval
    adds, in quadrature, the hour's share of the daily interval and the hour's own scatter
    around its profile (the empirical quantiles of actual / (day x share) - 1 over the profile
    window); the backtest's conformal scaling then corrects what this misses.
    """
    if granularity != "hourly":
        raise ValueError("top_down spreads a daily forecast over the hours: it forecasts hourly series only")
    ds = pd.DatetimeIndex(history["ds"])
    if len(ds) == 0 or ds[0].hour != 0 or ds[-1].hour != 23:
        raise ValueError("top_down needs an hourly history of whole days (00:00 to 23:00)")
    y = history["y"].to_numpy(dtype=float)
    totals = pd.Series(y, index=ds.normalize()).groupby(level=0).sum()
    daily = pd.DataFrame({"ds": totals.index, "y": totals.to_numpy()})
    future = future_index(ds[-1], periods, "hourly")
    day_fc, _ = daily_forecast_for_top_down(daily, int(math.ceil(periods / 24)), interval_width, transform,
                                            lookback_weeks)
    profile = intraday_profile(history, profile_weeks, lookback_weeks)
    day_index = np.arange(periods) // 24
    share = profile[future.weekday, future.hour]
    d_hat = day_fc["yhat"].to_numpy()[day_index]
    yhat = d_hat * share

    # The hour's scatter around its share of the day, over the profile window.
    window = ds > ds[-1] - pd.Timedelta(weeks=max(1, int(profile_weeks)))
    hours = pd.DataFrame({"day": ds[window].normalize(), "y": y[window],
                          "share": profile[ds[window].weekday, ds[window].hour]})
    hours["day_total"] = hours.groupby("day")["y"].transform("sum")
    fitted = hours["day_total"] * hours["share"]
    ratio = (hours["y"] / fitted - 1.0)[(fitted > 0) & (hours["day_total"] >= CLOSED_DAY_MIN_CONTACTS)]
    alpha = (1.0 - interval_width) / 2.0
    q_lo, q_hi = np.quantile(ratio, [alpha, 1.0 - alpha]) if len(ratio) else (0.0, 0.0)
    below = np.hypot(share * (d_hat - day_fc["yhat_lower"].to_numpy()[day_index]), yhat * max(-q_lo, 0.0))
    above = np.hypot(share * (day_fc["yhat_upper"].to_numpy()[day_index] - d_hat), yhat * max(q_hi, 0.0))
    is_open = open_view(history, "hourly", lookback_weeks).pattern[weekly_slots(future, "hourly")]
    return _finish(future, yhat, yhat - below, yhat + above, is_open)


def prophet_forecast(history: pd.DataFrame, granularity: str, periods: int, holidays: pd.DataFrame | None = None,
                     interval_width: float = 0.8, seed: int = 7, uncertainty_samples: int = 300,
                     seasonality_mode: str = "multiplicative", transform: str = "auto",
                     lookback_weeks: int = 6) -> pd.DataFrame:
    """Fit Prophet on the open periods of ``history`` (columns ds, y) and forecast ``periods`` ahead.

    Contact volume is a product (level x weekday x hour of day x holiday). On busy series
    (mean per period at least :data:`LOG_TRANSFORM_MIN_MEAN`, or ``transform="log"``) Prophet
    fits log(1 + y) with additive terms, which is that product exactly; on sparse series the
    log distorts small counts, and multiplicative seasonality on the raw counts does as well
    with better-calibrated intervals (bench/forecast.py, 120 days, hourly channel series: MAPE
    0.21 with the log vs 0.37 without at 5,000 contacts a day; 0.44 either way at 500 a day,
    where the log's 80% interval covers 78% of hours against 83% without).

    Closed periods and closed days are left out of the fit (Prophet needs no regular grid).
    Yearly seasonality is off: the warehouse holds months, not years, and a yearly curve fit
    on a few months extrapolates wildly. Holidays outside history and horizon are dropped
    (they add columns, not information). Seeds fix Stan's optimiser and the interval sampling,
    so the same input gives the same forecast.
    """
    def core(view: OpenView, future: pd.DatetimeIndex):
        from prophet import Prophet

        silence_stan_logging()
        train = pd.DataFrame({"ds": view.ds, "y": view.y})[view.observed]
        if float(train["y"].abs().sum()) == 0.0:
            # Stan cannot scale an all-zero series; the forecast of nothing is nothing.
            zeros = np.zeros(len(future))
            return zeros, zeros, zeros
        hol = None
        if holidays is not None and len(holidays):
            first, last = train["ds"].iloc[0].normalize(), future[-1].normalize()
            spans = holidays.assign(
                start=holidays["ds"] + pd.to_timedelta(holidays["lower_window"], unit="D"),
                end=holidays["ds"] + pd.to_timedelta(holidays["upper_window"], unit="D"))
            hol = spans[(spans["end"] >= first) & (spans["start"] <= last)][
                ["holiday", "ds", "lower_window", "upper_window"]].reset_index(drop=True)
            hol = hol if len(hol) else None
        log = _use_log(view, transform)
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
        frame = pd.DataFrame({"ds": future})
        if granularity == "hourly":
            weekend = train["ds"].dt.weekday >= 5
            if weekend.any() and not weekend.all():
                # Weekends have their own shape of day (later start, no lunch dip); one daily curve
                # shared by all seven days misplaces the weekend peaks.
                for name, is_weekend in (("daily_weekday", False), ("daily_weekend", True)):
                    model.add_seasonality(name=name, period=1, fourier_order=8, condition_name=f"is_{name}")
                    train = train.assign(**{f"is_{name}": (train["ds"].dt.weekday >= 5) == is_weekend})
                    frame = frame.assign(**{f"is_{name}": (frame["ds"].dt.weekday >= 5) == is_weekend})
            else:  # open on weekdays only (or weekends only): one shape of day
                model.add_seasonality(name="daily", period=1, fourier_order=8)
        if log:
            train = train.assign(y=np.log1p(train["y"].clip(lower=0)))
        np.random.seed(seed % (2**32))
        model.fit(train, seed=seed % (2**31))
        np.random.seed(seed % (2**32))
        out = model.predict(frame)
        if log:
            out = out[["yhat", "yhat_lower", "yhat_upper"]].apply(np.expm1)
        return out["yhat"].to_numpy(), out["yhat_lower"].to_numpy(), out["yhat_upper"].to_numpy()

    return _on_open_periods(history, granularity, periods, lookback_weeks, core)


def candidate_models(config: ForecastConfig, granularity: str) -> tuple[str, ...]:
    """The configured candidates that apply to ``granularity``, simplest first."""
    models = config.models_hourly if granularity == "hourly" and config.models_hourly else config.models
    wanted = set(models) or set(MODEL_NAMES)
    return tuple(m for m in MODEL_NAMES if m in wanted and not (m == "top_down" and granularity != "hourly"))


def run_model(name: str, history: pd.DataFrame, granularity: str, periods: int, config: ForecastConfig,
              holidays: pd.DataFrame | None = None, seed: int = 7) -> pd.DataFrame:
    """Forecast ``periods`` periods after ``history`` with candidate ``name``."""
    lookback = config.closed_lookback_weeks
    if name == "seasonal_naive":
        return seasonal_naive_forecast(history, granularity, periods, config.interval_width, lookback)
    if name == "seasonal_es":
        return seasonal_es_forecast(history, granularity, periods, config.interval_width, config.transform, lookback)
    if name == "ets":
        return ets_forecast(history, granularity, periods, config.interval_width, config.transform, lookback)
    if name == "top_down":
        return top_down_forecast(history, granularity, periods, config.interval_width, config.transform, lookback,
                                 config.profile_weeks)
    if name == "prophet":
        return prophet_forecast(history, granularity, periods, holidays, config.interval_width, seed,
                                config.uncertainty_samples, config.seasonality_mode, config.transform, lookback)
    raise ValueError(f"unknown forecast model {name!r}; known: {', '.join(MODEL_NAMES)}")


# ---- interval calibration ------------------------------------------------------------------

def _half_widths(yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(yhat - lower, INTERVAL_FLOOR), np.maximum(upper - yhat, INTERVAL_FLOOR)


def conformal_scale(actual: Sequence[float], yhat: Sequence[float], lower: Sequence[float],
                    upper: Sequence[float], interval_width: float) -> tuple[float, float]:
    """Factors (below, above) by which to stretch each side of an interval so that about
    (1 - width) / 2 of the actuals fall beyond each side: the finite-sample split-conformal
    quantile of the errors measured in half-widths. (1, 1) when there is nothing to learn from."""
    a, f, lo, hi = (np.asarray(v, dtype=float) for v in (actual, yhat, lower, upper))
    keep = np.isfinite(a) & np.isfinite(f) & np.isfinite(lo) & np.isfinite(hi)
    a, f, lo, hi = a[keep], f[keep], lo[keep], hi[keep]
    if a.size == 0:
        return 1.0, 1.0
    below, above = _half_widths(f, lo, hi)
    alpha = (1.0 - interval_width) / 2.0
    level = min(1.0, (1.0 - alpha) * (a.size + 1) / a.size)
    s_below = float(np.quantile((f - a) / below, level, method="higher"))
    s_above = float(np.quantile((a - f) / above, level, method="higher"))
    return (min(max(s_below, 0.0), MAX_INTERVAL_SCALE), min(max(s_above, 0.0), MAX_INTERVAL_SCALE))


def scaled_interval(yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray, scale: tuple[float, float],
                    is_open: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) stretched by :func:`conformal_scale`'s factors; closed periods stay [0, 0]."""
    yhat, lower, upper = (np.asarray(v, dtype=float) for v in (yhat, lower, upper))
    below, above = _half_widths(yhat, lower, upper)
    new_lower = np.clip(yhat - scale[0] * below, 0.0, None)
    new_upper = yhat + scale[1] * above
    if is_open is not None:
        shut = ~np.asarray(is_open, dtype=bool)
        new_lower[shut] = new_upper[shut] = 0.0
    return np.minimum(new_lower, yhat), np.maximum(new_upper, yhat)


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


def default_model(config: ForecastConfig, granularity: str) -> str:
    """What a series publishes when no backtest fold could be scored."""
    models = candidate_models(config, granularity)
    return DEFAULT_MODEL if DEFAULT_MODEL in models else (models[-1] if models else BASELINE)


def forecast_series(task: dict[str, Any]) -> dict[str, Any]:
    """Forecast one series over the horizon with its chosen model (seasonal naive if that fails).

    ``task``: key (dict of identifying columns), granularity, history (DataFrame ds, y),
    holidays (DataFrame or None), config (:class:`ForecastConfig`), and optionally ``model``
    (the backtest's choice; :func:`default_model` without one) and ``interval_scales``
    ({model: (below, above)} from the backtest, applied to the interval of the model used).
    Returns the key, a status (ok | fallback | skipped), a reason, the model, and the forecast
    frame with ``model`` and ``is_peak``.
    """
    key, granularity, history, config = task["key"], task["granularity"], task["history"], task["config"]
    result: dict[str, Any] = {"key": key, "granularity": granularity, "status": "ok", "reason": None,
                              "forecast": None, "model": None, "history_periods": int(len(history)),
                              "history_span": (history["ds"].iloc[0], history["ds"].iloc[-1]) if len(history) else None}
    try:
        _check_history(history, granularity, config)
    except SeriesTooShort as exc:
        result.update(status="skipped", reason=str(exc))
        return result
    periods = _periods(config.horizon_days, granularity)
    seed = series_seed(config.seed, granularity, *key.values())
    model = task.get("model") or default_model(config, granularity)
    try:
        frame = run_model(model, history, granularity, periods, config, task.get("holidays"), seed)
    except Exception as exc:  # Stan can fail to converge on degenerate series; the baseline still plans
        if model == BASELINE:
            result.update(status="skipped", reason=f"seasonal naive failed ({type(exc).__name__}: {exc})")
            return result
        try:
            frame = run_model(BASELINE, history, granularity, periods, config)
        except Exception as naive_exc:  # nothing usable: say why rather than fail every other series
            result.update(status="skipped", reason=f"{model} failed ({type(exc).__name__}: {exc}); "
                                                   f"seasonal naive failed ({type(naive_exc).__name__}: {naive_exc})")
            return result
        result.update(status="fallback", reason=f"{model} failed ({type(exc).__name__}: {exc}); seasonal naive used")
        model = BASELINE
    scale = (task.get("interval_scales") or {}).get(model)
    if scale is not None and config.calibrate_intervals:
        frame["yhat_lower"], frame["yhat_upper"] = scaled_interval(
            frame["yhat"].to_numpy(), frame["yhat_lower"].to_numpy(), frame["yhat_upper"].to_numpy(),
            scale, frame["is_open"].to_numpy())
    frame["model"] = model
    frame["is_peak"] = top_share_mask(frame["yhat"].to_numpy(), config.peak_share)
    result["forecast"] = frame
    result["model"] = model
    return result


def backtest_origins(n_periods: int, granularity: str, config: ForecastConfig) -> list[int]:
    """Index of the first test period of each fold, oldest first; the newest fold ends at the data's end."""
    horizon = _periods(config.backtest_horizon_days, granularity)
    step = max(1, _periods(config.backtest_step_days, granularity))
    origins = [n_periods - horizon - i * step for i in range(max(0, int(config.backtest_folds)))]
    return sorted(o for o in origins if o > 0)


def _fold_scores(actual: np.ndarray, yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 share: float) -> dict[str, float | None]:
    return {"mape": _none_if_nan(mape(actual, yhat)), "smape": _none_if_nan(smape(actual, yhat)),
            "mae": _none_if_nan(mae(actual, yhat)), "rmse": _none_if_nan(rmse(actual, yhat)),
            "raw_coverage": _none_if_nan(interval_coverage(actual, lower, upper)),
            "peak_recall": _none_if_nan(peak_recall(actual, yhat, share))}


def choose_model(rows: list[dict[str, Any]], models: Sequence[str], fallback: str,
                 metric: str = "rmse") -> tuple[str, str]:
    """(model, why): the lowest fold mean of ``metric`` over the scored folds; a model that failed
    a fold is out; ties go to the earlier (simpler) model of ``models``.

    RMSE by default, not sMAPE: on a queue with a few contacts an hour, sMAPE scores an exact 0
    in a quiet hour as perfect and anything else as the worst error, so it picks the
    seasonal-naive copy of last week's zeros and ones; squared error is minimised by the
    expected count, the figure staffing needs. On busy series the two agree.
    """
    metric = metric if metric in SELECTION_METRICS else "rmse"
    means: dict[str, float] = {}
    for name in models:
        mine = [r for r in rows if r.get("model") == name]
        scores = [r[metric] for r in mine if r["status"] == "ok" and r.get(metric) is not None]
        if mine and scores and all(r["status"] == "ok" for r in mine):
            means[name] = float(np.mean(scores))
    if not means:
        return fallback, "no backtest fold could be scored"
    best = min(means, key=lambda m: (round(means[m], 12), models.index(m)))
    baseline = f"; {BASELINE} {means[BASELINE]:.4g}" if BASELINE in means and best != BASELINE else ""
    return best, f"lowest mean {metric.upper()} {means[best]:.4g}{baseline}"


def _import_models(models: Iterable[str]) -> None:
    models = set(models)
    if models & {"seasonal_es", "ets", "top_down"}:
        import statsforecast.models  # noqa: F401
    if "prophet" in models:
        import prophet  # noqa: F401


def evaluate_series(task: dict[str, Any]) -> dict[str, Any]:
    """Rolling-origin backtest of every candidate on one series, the choice, and the interval scales.

    Returns ``rows`` (one per fold and model, or one per skipped fold), ``chosen``, ``reason``
    and ``scales`` ({model: (below, above)} over all folds, for the published forecast).
    A fold whose training window is too short gives a row with status ``skipped`` and the
    reason, so the table says why a series has no score instead of silently lacking it.
    """
    key, granularity, history, config = task["key"], task["granularity"], task["history"], task["config"]
    models = candidate_models(config, granularity)
    fallback = default_model(config, granularity)
    horizon = _periods(config.backtest_horizon_days, granularity)
    origins = backtest_origins(len(history), granularity, config)
    base = {**key, "granularity": granularity}
    if not origins:
        days = len(history) / GRANULARITIES[granularity]["per_day"]
        reason = f"{days:g} days of history cannot hold a {config.backtest_horizon_days}-day test window"
        rows = [{**base, "fold": None, "origin": None, "train_periods": len(history), "test_periods": 0,
                 "model": None, "status": "skipped", "reason": reason}]
        return _with_choice(rows, fallback, f"not backtested: {reason}", {})
    _import_models(models)  # once, before the clock: fold 1 must not pay the imports
    rows: list[dict[str, Any]] = []
    kept: dict[str, list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {m: [] for m in models}
    for fold, origin in enumerate(origins, start=1):
        train = history.iloc[:origin].reset_index(drop=True)
        test = history.iloc[origin:origin + horizon].reset_index(drop=True)
        fold_base = {**base, "fold": fold, "origin": history["ds"].iloc[origin], "train_periods": len(train),
                     "test_periods": len(test)}
        try:
            _check_history(train, granularity, config)
        except SeriesTooShort as exc:
            rows.append({**fold_base, "model": None, "status": "skipped", "reason": f"training window: {exc}"})
            continue
        scored = scored_mask(train, test, granularity, config.closed_lookback_weeks)
        actual = test["y"].to_numpy(dtype=float)
        seed = series_seed(config.seed, granularity, fold, *key.values())
        for name in models:
            row = {**fold_base, "model": name, "status": "ok", "reason": None, "scored_periods": int(scored.sum()),
                   "actual_total": float(actual.sum())}
            started = time.perf_counter()
            try:
                frame = run_model(name, train, granularity, len(test), config, task.get("holidays"), seed)
            except Exception as exc:
                row.update(status="failed", reason=f"{name} failed ({type(exc).__name__}: {exc})",
                           seconds=time.perf_counter() - started)
                rows.append(row)
                continue
            row["seconds"] = time.perf_counter() - started
            yhat, lower, upper = (frame[c].to_numpy(dtype=float) for c in ("yhat", "yhat_lower", "yhat_upper"))
            row.update(_fold_scores(actual[scored], yhat[scored], lower[scored], upper[scored], config.peak_share))
            row["forecast_total"] = float(yhat.sum())
            kept[name].append((len(rows), actual[scored], yhat[scored], lower[scored], upper[scored]))
            rows.append(row)
    scales = {}
    for name, folds in kept.items():
        if not folds:
            continue
        joined = [np.concatenate(parts) for parts in zip(*(f[1:] for f in folds))]
        scales[name] = conformal_scale(*joined, config.interval_width) if config.calibrate_intervals else (1.0, 1.0)
        for i, (index, a, f, lo, hi) in enumerate(folds):
            others = [g for j, g in enumerate(folds) if j != i]
            if config.calibrate_intervals and others:
                rest = [np.concatenate(parts) for parts in zip(*(g[1:] for g in others))]
                lo, hi = scaled_interval(f, lo, hi, conformal_scale(*rest, config.interval_width))
            rows[index]["coverage"] = _none_if_nan(interval_coverage(a, lo, hi))
    chosen, reason = choose_model(rows, models, fallback, config.selection_metric)
    return _with_choice(rows, chosen, reason, scales)


def _with_choice(rows: list[dict[str, Any]], chosen: str, reason: str,
                 scales: dict[str, tuple[float, float]]) -> dict[str, Any]:
    for row in rows:
        scale = scales.get(row.get("model"))
        row.update(chosen_model=chosen, selection_reason=reason, is_chosen=row.get("model") == chosen,
                   interval_scale_lower=scale[0] if scale else None,
                   interval_scale_upper=scale[1] if scale else None)
    return {"rows": rows, "chosen": chosen, "reason": reason, "scales": scales}


def backtest_series(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of :func:`evaluate_series`: one per fold and candidate, the choice on every row."""
    return evaluate_series(task)["rows"]


def select_and_forecast(task: dict[str, Any]) -> dict[str, Any]:
    """Backtest, choose, and forecast with the choice and its calibrated interval (CLI, bench)."""
    evaluation = evaluate_series(task)
    result = forecast_series({**task, "model": evaluation["chosen"], "interval_scales": evaluation["scales"]})
    return {**result, "evaluation": evaluation}


def summarize_backtest(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model: the fold means of each metric, the folds scored and failed, seconds per fit."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["model"] for r in rows if r.get("model")):
        mine = [r for r in rows if r.get("model") == name]
        ok = [r for r in mine if r["status"] == "ok"]
        summary: dict[str, Any] = {}
        for metric in ("mape", "smape", "mae", "rmse", "coverage", "raw_coverage", "peak_recall"):
            values = [r[metric] for r in ok if r.get(metric) is not None]
            summary[metric] = float(np.mean(values)) if values else None
        summary["folds"] = len(ok)
        summary["failed_folds"] = len(mine) - len(ok)
        summary["seconds"] = float(np.mean([r["seconds"] for r in mine])) if mine else None
        scale = (mine[0].get("interval_scale_lower"), mine[0].get("interval_scale_upper"))
        summary["interval_scale"] = list(scale) if scale[0] is not None else None
        out[name] = summary
    return out


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


def run_tasks_reusing(kind: str, fn: Callable[[dict[str, Any]], Any], tasks: list[dict[str, Any]]) -> list[Any]:
    """:func:`run_tasks`, reusing the result of every series whose task (history, holidays, config) and
    fitting code are those of the last build (``ml.result_cache``): a rebuild with no new contacts
    fits nothing, and one with new contacts refits only the series they changed."""
    from ml.result_cache import cached_map, code_fingerprint

    code = code_fingerprint(["ml.forecasting"], ["prophet", "statsforecast", "numpy", "pandas", "scipy"])
    results, _ = cached_map(kind, fn, tasks, code, lambda todo: run_tasks(fn, todo))
    return results


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
    ctx.set_forkserver_preload(["ml.forecasting", "prophet", "statsforecast.models"])
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


def build_series(counts: pd.DataFrame, granularity: str, end: pd.Timestamp,
                 config: ForecastConfig | None = None) -> dict[tuple[str, str], pd.DataFrame]:
    """Zero-filled series per (channel, queue_id) plus a channel total (queue_id ``all``).

    ``counts`` has ds (period start, hourly), channel, queue_id, contacts. A series starts at
    its own first recent contact (a queue opened last week has one week of history, not six weeks
    of zeros; see :func:`history_start` for "recent") and ends at ``end``, the last period of the
    data, so quiet queues run up to today.
    """
    config = config or ForecastConfig()
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
        start = history_start(sums, end, granularity, config)
        sums = sums[sums.index >= start]
        if sums.empty:  # nothing recent: no series
            continue
        index = pd.date_range(start, max(pd.Timestamp(end), sums.index.max()), freq=freq)
        series = sums.reindex(index, fill_value=0).astype(float)
        out[(str(channel), str(queue_id))] = pd.DataFrame({"ds": index, "y": series.to_numpy()})
    return out


def history_start(sums: pd.Series, end: pd.Timestamp, granularity: str, config: ForecastConfig) -> pd.Timestamp:
    """The first day a series reads: its first contact within ``max_history_days`` of ``end`` that
    follows the last gap of more than ``max_gap_days`` days without any contact."""
    limit = pd.Timestamp(end).normalize() - pd.Timedelta(days=config.max_history_days[granularity] - 1)
    days = pd.DatetimeIndex(sums[sums > 0].index).normalize().unique().sort_values()
    days = days[days >= limit]
    if len(days) == 0:
        return limit
    if config.max_gap_days > 0 and len(days) > 1:
        gaps = np.flatnonzero(np.diff(days.to_numpy()) > np.timedelta64(config.max_gap_days + 1, "D"))
        if len(gaps):
            return days[gaps[-1] + 1]
    return days[0]


def reconcile_queue_forecasts(rows: list[dict[str, Any]], tasks: list[dict[str, Any]],
                              recent_days: int = 28) -> list[dict[str, Any]]:
    """Scale each period's queue forecasts so they add up to the channel's forecast of that period.

    Why: every series is fitted on its own, so a channel's queues (each with its own model and
    noise) rarely sum to the channel total; a staffing plan per queue would then disagree with the
    channel's. The channel total is the steadier figure (more contacts, less noise), so it is kept
    and the queues share it top-down, in the proportions of their own forecasts. Queues without a
    forecast (too short to fit) keep their recent share of the channel's contacts out of it; a
    period every forecast queue puts at zero is shared by the queues' recent volumes. The model's
    own number stays in ``yhat_unreconciled``; the interval is scaled with the point forecast.
    """
    recent: dict[tuple[str, str], dict[str, float]] = {}
    for task in tasks:
        key = task["key"]
        if key.get("series_level") != "queue":
            continue
        history = task["history"]
        cutoff = history["ds"].max() - pd.Timedelta(days=recent_days)
        recent.setdefault((task["granularity"], key["channel"]), {})[key["queue_id"]] = float(
            history.loc[history["ds"] > cutoff, "y"].sum())
    channel_rows: dict[tuple[str, str, pd.Timestamp], dict[str, Any]] = {}
    queue_rows: dict[tuple[str, str, pd.Timestamp], list[dict[str, Any]]] = {}
    for row in rows:
        row.setdefault("yhat_unreconciled", row.get("yhat"))
        if row.get("period_start") is None or row.get("yhat") is None:
            continue
        slot = (row["granularity"], row["channel"], pd.Timestamp(row["period_start"]))
        if row.get("series_level") == "channel":
            channel_rows[slot] = row
        else:
            queue_rows.setdefault(slot, []).append(row)
    for slot, queues in queue_rows.items():
        total = channel_rows.get(slot)
        if total is None:
            continue
        volumes = recent.get(slot[:2], {})
        all_volume = sum(volumes.values())
        forecast_volume = sum(volumes.get(r["queue_id"], 0.0) for r in queues)
        coverage = forecast_volume / all_volume if all_volume > 0 else 1.0
        target = float(total["yhat"]) * coverage
        current = sum(float(r["yhat"]) for r in queues)
        if current > 0:
            factors = [target / current] * len(queues)
            shares = [float(r["yhat"]) / current for r in queues]
        elif target > 0 and forecast_volume > 0:
            shares = [volumes.get(r["queue_id"], 0.0) / forecast_volume for r in queues]
            factors = [None] * len(queues)
        else:
            continue
        for row, factor, share in zip(queues, factors, shares):
            if factor is not None:
                row["yhat"] = float(row["yhat"]) * factor
                for bound in ("yhat_lower", "yhat_upper"):
                    if row.get(bound) is not None:
                        row[bound] = float(row[bound]) * factor
            else:  # every forecast said zero: share the channel's figure by recent volume
                row["yhat"] = target * share
                row["yhat_lower"] = min(float(row.get("yhat_lower") or 0.0), row["yhat"])
                row["yhat_upper"] = max(float(row.get("yhat_upper") or 0.0), row["yhat"])
    return rows


# ---- glue for the dbt Python models --------------------------------------------------------

SERIES_LEVELS = ("channel", "queue")

FORECAST_COLUMNS: dict[str, str] = {
    "series_key": "object", "channel": "object", "queue_id": "object", "series_level": "object",
    "granularity": "object", "period_start": "datetime64[ns]", "period_date": "date",
    "period_hour": "Int64", "model": "object", "yhat": "float64", "yhat_unreconciled": "float64", "yhat_lower": "float64",
    "yhat_upper": "float64", "is_peak": "boolean", "is_open": "boolean", "status": "object",
    "status_reason": "object", "history_start": "datetime64[ns]", "history_end": "datetime64[ns]",
    "history_periods": "Int64", "horizon_days": "Int64", "interval_width": "float64",
}

BACKTEST_COLUMNS: dict[str, str] = {
    "series_key": "object", "channel": "object", "queue_id": "object", "series_level": "object",
    "granularity": "object", "fold": "Int64", "origin": "datetime64[ns]", "train_periods": "Int64",
    "test_periods": "Int64", "scored_periods": "Int64", "model": "object", "status": "object",
    "status_reason": "object", "actual_total": "float64", "forecast_total": "float64",
    **{metric: "float64" for metric in ("mape", "smape", "mae", "rmse", "coverage", "raw_coverage", "peak_recall")},
    "seconds": "float64", "chosen_model": "object", "is_chosen": "boolean", "selection_reason": "object",
    "interval_scale_lower": "float64", "interval_scale_upper": "float64", "interval_width": "float64",
    "peak_share": "float64",
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


def parse_models(value: Any) -> tuple[str, ...]:
    """Candidate models from a var or flag: a list or a comma-separated string; unknown names are
    ignored, and nothing known means every model."""
    if value is None:
        return MODEL_NAMES
    items = value if isinstance(value, (list, tuple)) else str(value).strip("[]").replace("'", "").split(",")
    wanted = {str(i).strip().lower() for i in items}
    return tuple(m for m in MODEL_NAMES if m in wanted) or MODEL_NAMES


def _flag(value: Any, default: bool) -> bool:
    text = str(value).strip().lower() if value is not None else ""
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text, default)


def config_from_values(values: dict[str, Any]) -> ForecastConfig:
    """A :class:`ForecastConfig` from dbt config values (strings once Jinja has rendered them).

    Out-of-range values are clamped and unreadable ones fall back to the default, so a typo in
    ``--vars`` degrades a forecast instead of failing the nightly build.
    """
    d = ForecastConfig()
    transform = str(values.get("transform") or d.transform).strip().lower()
    metric = str(values.get("selection_metric") or d.selection_metric).strip().lower()
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
        models=parse_models(values.get("models")),
        models_hourly=parse_models(values["models_hourly"]) if values.get("models_hourly") else None,
        closed_lookback_weeks=clamp_int(values.get("closed_lookback_weeks"), d.closed_lookback_weeks, 0, 520),
        profile_weeks=clamp_int(values.get("profile_weeks"), d.profile_weeks, 1, 520),
        calibrate_intervals=_flag(values.get("calibrate_intervals"), d.calibrate_intervals),
        selection_metric=metric if metric in SELECTION_METRICS else d.selection_metric,
        max_history_days={g: clamp_int(values.get(f"max_history_days_{g}"), DEFAULT_MAX_HISTORY_DAYS[g], 14, 3650)
                          for g in GRANULARITIES},
        max_gap_days=clamp_int(values.get("max_gap_days"), d.max_gap_days, 0, 3650),
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
        for (channel, queue_id), history in build_series(frame, granularity, end, config).items():
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


def series_key(key: dict[str, Any], granularity: str) -> str:
    return f"{key['channel']}|{key['queue_id']}|{granularity}"


def forecast_rows(results: list[dict[str, Any]], config: ForecastConfig) -> list[dict[str, Any]]:
    """Flatten :func:`forecast_series` results to mart rows; a skipped series keeps one reason row."""
    rows: list[dict[str, Any]] = []
    for res in results:
        key, granularity = res["key"], res["granularity"]
        base = {**key, "series_key": series_key(key, granularity), "granularity": granularity,
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
                         "is_peak": bool(rec.is_peak), "is_open": bool(rec.is_open)})
    return rows


def backtest_rows(results: list[list[dict[str, Any]]], config: ForecastConfig) -> list[dict[str, Any]]:
    """Flatten :func:`backtest_series` results to mart rows (one per series, fold and model)."""
    rows = []
    for series_rows in results:
        for row in series_rows:
            row = dict(row)
            row["series_key"] = series_key(row, row["granularity"])
            row["status_reason"] = row.pop("reason", None)
            row["interval_width"] = config.interval_width
            row["peak_share"] = config.peak_share
            rows.append(row)
    return rows


def choices_from_backtest(backtest: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """{series_key: {"model": chosen, "interval_scales": {model: (below, above)}}} from the
    backtest mart, for the forecast to publish each series' winner with its calibrated interval."""
    choices: dict[str, dict[str, Any]] = {}
    if backtest is None or len(backtest) == 0:
        return choices
    for series_key, group in backtest.groupby("series_key", sort=False):
        chosen = group["chosen_model"].dropna()
        scales = {}
        for rec in group.dropna(subset=["model", "interval_scale_lower", "interval_scale_upper"]).itertuples():
            scales[str(rec.model)] = (float(rec.interval_scale_lower), float(rec.interval_scale_upper))
        choices[str(series_key)] = {"model": str(chosen.iloc[0]) if len(chosen) else None,
                                    "interval_scales": scales}
    return choices


def tasks_from_config(values: dict[str, Any], counts: pd.DataFrame,
                      holiday_rows: pd.DataFrame) -> tuple[list, ForecastConfig]:
    """(series tasks, config) for a dbt Python model from its config values (set from vars in YAML), the
    offered-contact counts and the holiday seed: the forecast and the backtest read them the same way.

    The model files read every value with a literal ``dbt.config.get("key")``: dbt hands a Python
    model only the config keys it finds written that way in the model's own file, so a loop over
    key names here would see none of the vars. No ``country`` means no holidays: nothing here
    assumes one.
    """
    config = config_from_values(values)
    levels = parse_levels(values.get("series_levels"))
    country = str(values.get("country") or "").strip()
    holidays = (holidays_for_prophet(holiday_rows, country, values.get("holiday_effects") or "kind")
                if country else None)
    return series_tasks(counts, holidays, config, levels=levels), config
