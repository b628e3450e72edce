"""Offered-contact forecast per channel and entry queue, daily and hourly, with intervals and peaks.

Why a Python model: Prophet has no SQL form. The fitting lives in ``ml.forecasting`` (tested
there, run in a process pool); this file only reads the demand and the holiday seed, passes
the vars, and shapes the result. Vars arrive through the model's config (set in the folder's
YAML from ``var(...)``), the way dbt hands settings to Python models.
"""

from ml.forecasting import FORECAST_COLUMNS, forecast_rows, forecast_series, run_tasks, tasks_from_dbt, typed_frame


CONFIG_KEYS = (
    "horizon_days",
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
    results = run_tasks(forecast_series, tasks)
    return typed_frame(forecast_rows(results, config), FORECAST_COLUMNS)
