"""Offered-contact forecast per channel and entry queue, daily and hourly, with intervals and peaks.

Why a Python model: Prophet and exponential smoothing have no SQL form. The fitting lives in
``ml.forecasting`` (tested there, run in a process pool); this file reads the demand, the
holiday seed and the backtest (which model won each series, and how far to stretch its
interval), passes the vars, and shapes the result. Vars arrive through the model's config (set
in the folder's YAML from ``var(...)``), each read with a literal ``dbt.config.get``: dbt passes
a Python model only the keys it finds written that way in the model file.
"""

from ml.forecasting import (
    FORECAST_COLUMNS,
    choices_from_backtest,
    forecast_rows,
    forecast_series,
    reconcile_queue_forecasts,
    run_tasks_reusing,
    series_key,
    tasks_from_config,
    typed_frame,
)


def model(dbt, session):
    dbt.config(materialized="table")
    values = {
        "country": dbt.config.get("country"),
        "holiday_effects": dbt.config.get("holiday_effects"),
        "series_levels": dbt.config.get("series_levels"),
        "horizon_days": dbt.config.get("horizon_days"),
        "interval_width": dbt.config.get("interval_width"),
        "seed": dbt.config.get("seed"),
        "peak_share": dbt.config.get("peak_share"),
        "min_history_days_daily": dbt.config.get("min_history_days_daily"),
        "min_history_days_hourly": dbt.config.get("min_history_days_hourly"),
        "max_history_days_daily": dbt.config.get("max_history_days_daily"),
        "max_history_days_hourly": dbt.config.get("max_history_days_hourly"),
        "max_gap_days": dbt.config.get("max_gap_days"),
        "transform": dbt.config.get("transform"),
        "models": dbt.config.get("models"),
        "models_hourly": dbt.config.get("models_hourly"),
        "closed_lookback_weeks": dbt.config.get("closed_lookback_weeks"),
        "profile_weeks": dbt.config.get("profile_weeks"),
        "calibrate_intervals": dbt.config.get("calibrate_intervals"),
    }
    tasks, config = tasks_from_config(values, dbt.ref("fct_offered_contacts_hourly").df(), dbt.ref("holidays").df())
    choices = choices_from_backtest(dbt.ref("fct_forecast_backtest").df())
    for task in tasks:
        task.update(choices.get(series_key(task["key"], task["granularity"]), {}))
    results = run_tasks_reusing("volume_forecast", forecast_series, tasks)
    return typed_frame(reconcile_queue_forecasts(forecast_rows(results, config), tasks), FORECAST_COLUMNS)
