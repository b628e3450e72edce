"""Rolling-origin backtest of every candidate model per series, and the model each series publishes.

Why: the forecast mart says what will happen; this one says how far to trust it and which model
earned the right to say it. Each fold fits every candidate on everything before its origin and
scores the following days; the lowest mean of `forecast_selection_metric` wins the series, and
the folds' errors size each model's interval (conformal scaling). Folds, their length and the
step between origins are vars, kept small by default so the sample build stays quick.

Every config value is read with a literal ``dbt.config.get``: dbt passes a Python model only the
keys it finds written that way in the model file.
"""

from ml.forecasting import (
    BACKTEST_COLUMNS,
    backtest_rows,
    backtest_series,
    run_tasks_reusing,
    tasks_from_config,
    typed_frame,
)


def model(dbt, session):
    dbt.config(materialized="table")
    values = {
        "country": dbt.config.get("country"),
        "holiday_effects": dbt.config.get("holiday_effects"),
        "series_levels": dbt.config.get("series_levels"),
        "backtest_folds": dbt.config.get("backtest_folds"),
        "backtest_horizon_days": dbt.config.get("backtest_horizon_days"),
        "backtest_step_days": dbt.config.get("backtest_step_days"),
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
        "selection_metric": dbt.config.get("selection_metric"),
        "closed_lookback_weeks": dbt.config.get("closed_lookback_weeks"),
        "profile_weeks": dbt.config.get("profile_weeks"),
        "calibrate_intervals": dbt.config.get("calibrate_intervals"),
    }
    tasks, config = tasks_from_config(values, dbt.ref("fct_offered_contacts_hourly").df(), dbt.ref("holidays").df())
    results = run_tasks_reusing("forecast_backtest", backtest_series, tasks)
    return typed_frame(backtest_rows(results, config), BACKTEST_COLUMNS)
