"""Rolling-origin backtest: Prophet and the seasonal-naive baseline scored side by side per fold.

Why: the forecast mart says what will happen; this one says how far to trust it. Each fold
fits on everything before its origin and scores the following days; folds, their length and
the step between origins are vars, kept small by default so the sample build stays quick.
"""

from ml.forecasting import BACKTEST_COLUMNS, backtest_rows, backtest_series, run_tasks, tasks_from_dbt, typed_frame


CONFIG_KEYS = (
    "backtest_folds",
    "backtest_horizon_days",
    "backtest_step_days",
    "interval_width",
    "seed",
    "peak_share",
    "min_history_days_daily",
    "min_history_days_hourly",
    "transform",
)


def model(dbt, session):
    dbt.config(materialized="table")
    tasks, config = tasks_from_dbt(dbt, CONFIG_KEYS, dbt.ref("fct_offered_contacts_hourly").df(),
                                   dbt.ref("holidays").df())
    results = run_tasks(backtest_series, tasks)
    return typed_frame(backtest_rows(results, config), BACKTEST_COLUMNS)
