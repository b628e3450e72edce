"""Volume forecasts and staffing (scenario 7): Erlang C, the backtest metrics, and the marts on a real build.

The unit tests run in seconds on synthetic series; the ones marked ``slow`` read the session
build (generator -> Dagster -> dbt, the forecasting Python models included).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from ml import forecasting as fc
from ml import staffing as st
from service_insight.settings import DBT_PROJECT_DIR, PROJECT_ROOT

HOLIDAYS_CSV = DBT_PROJECT_DIR / "seeds" / "holidays.csv"


# ---- Erlang C ------------------------------------------------------------------------------

def erlang_c_by_the_textbook(traffic: float, agents: int) -> float:
    """The closed form with factorials, written independently of ml.staffing's recursion."""
    top = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
    bottom = sum(traffic**k / math.factorial(k) for k in range(agents)) + top
    return top / bottom


@pytest.mark.parametrize("traffic,agents", [(2.5, 3), (10, 11), (10, 13), (10, 14), (37.5, 45), (80.2, 95)])
def test_erlang_c_matches_the_closed_form(traffic, agents):
    assert st.erlang_c(traffic, agents) == pytest.approx(erlang_c_by_the_textbook(traffic, agents), rel=1e-9)


def test_erlang_c_textbook_example_200_calls_an_hour_of_3_minutes():
    # 200 calls/h x 180 s = 10 Erlangs. Published tables: P(wait) 0.6821 with 11 agents,
    # 0.1741 with 14; 80% in 20 s first reached at 14 agents (13 give 79.6%).
    assert st.traffic_erlangs(200, 180) == pytest.approx(10.0)
    assert st.erlang_c(10, 11) == pytest.approx(0.6821, abs=5e-5)
    assert st.erlang_c(10, 14) == pytest.approx(0.1741, abs=5e-5)
    assert st.service_level(200, 180, 13, 20) == pytest.approx(0.7956, abs=5e-4)
    assert st.service_level(200, 180, 14, 20) == pytest.approx(0.8884, abs=5e-4)
    assert st.average_speed_of_answer(200, 180, 14) == pytest.approx(0.1741 * 180 / 4, rel=1e-3)


def test_required_agents_is_the_smallest_number_meeting_the_target():
    req = st.required_agents(200, 180, target_service_level=0.8, answer_seconds=20, max_occupancy=1.0, shrinkage=0)
    assert req.agents == 14 and req.limited_by == "service_level"
    assert st.service_level(200, 180, req.agents - 1, 20) < 0.8 <= req.service_level
    assert req.occupancy == pytest.approx(10 / 14)


def test_the_occupancy_cap_adds_agents_when_the_service_level_alone_would_burn_them_out():
    # 100 Erlangs meet 80/20 with far fewer than 100 / 0.85 agents (scale economies).
    free = st.required_agents(2000, 180, 0.8, 20, max_occupancy=1.0, shrinkage=0)
    capped = st.required_agents(2000, 180, 0.8, 20, max_occupancy=0.85, shrinkage=0)
    assert free.agents < 118 and free.occupancy > 0.85
    assert capped.agents == 118 and capped.limited_by == "occupancy" and capped.occupancy <= 0.85


def test_shrinkage_is_added_on_top_and_rounded_up():
    req = st.required_agents(200, 180, 0.8, 20, max_occupancy=0.85, shrinkage=0.3)
    assert req.agents == 14 and req.scheduled_agents == math.ceil(14 / 0.7) == 20


@pytest.mark.parametrize("contacts,aht", [(0, 180), (None, 180), (float("nan"), 180), (-5, 180), (10, 0),
                                          (10, None), ("many", 180)])
def test_no_or_nonsense_load_needs_no_agents_and_never_raises(contacts, aht):
    req = st.required_agents(contacts, aht)
    assert (req.agents, req.scheduled_agents, req.limited_by) == (0, 0, "none")
    assert st.workload_agents(contacts, aht).agents == 0


def test_email_is_staffed_by_workload_at_the_occupancy_cap():
    req = st.workload_agents(30, 600, max_occupancy=0.8, shrinkage=0.2)  # 5 Erlangs of work
    assert req.agents == math.ceil(5 / 0.8) == 7 and req.scheduled_agents == math.ceil(7 / 0.8)


def test_plan_uses_the_queue_aht_then_the_channel_then_the_default():
    rows = [{"channel": c, "queue_id": q, "series_level": "queue", "period_start": pd.Timestamp("2026-11-02 10:00"),
             "period_date": date(2026, 11, 2), "period_hour": 10, "yhat": y, "yhat_upper": y + 1, "is_peak": False}
            for c, q, y in (("phone", "Q1", 200.0), ("phone", "Q2", 200.0), ("sms", "Q3", 10.0),
                            ("email", "Q1", 30.0), ("chat", "Q1", -3.0))]
    plan = st.plan_rows(rows, {("phone", "Q1"): 180.0}, {"phone": 240.0, "email": 600.0}, 0.8, 20, 1.0, 0.0, 300.0)
    by = {(r["channel"], r["queue_id"]): r for r in plan}
    assert by[("phone", "Q1")]["aht_source"] == "queue" and by[("phone", "Q1")]["required_agents"] == 14
    assert by[("phone", "Q2")]["aht_source"] == "channel" and by[("phone", "Q2")]["aht_seconds"] == 240.0
    assert by[("sms", "Q3")]["aht_source"] == "default" and by[("sms", "Q3")]["method"] == "workload"
    assert by[("email", "Q1")]["method"] == "workload" and by[("email", "Q1")]["expected_service_level"] is None
    assert by[("chat", "Q1")]["required_agents"] == 0 and by[("chat", "Q1")]["forecast_contacts"] == 0.0


# ---- metrics -------------------------------------------------------------------------------

def test_mape_skips_periods_without_contacts():
    assert fc.mape([10, 0, 20], [12, 5, 10]) == pytest.approx((0.2 + 0.5) / 2)
    assert math.isnan(fc.mape([0, 0], [1, 2]))


def test_smape_counts_nothing_forecast_for_nothing_as_perfect():
    assert fc.smape([0, 10], [0, 10]) == 0.0
    assert fc.smape([0, 10], [1, 30]) == pytest.approx((2.0 + 2 * 20 / 40) / 2)


def test_interval_coverage_includes_the_bounds():
    assert fc.interval_coverage([1, 5, 9, 3], [0, 5, 10, 0], [2, 6, 12, 2]) == pytest.approx(0.5)


def test_peak_recall_on_a_hand_example():
    actual = [1, 9, 2, 8, 3, 7, 4, 6, 5, 10]  # top 20% = the 10 (index 9) and the 9 (index 1)
    forecast = [0, 9, 0, 0, 0, 0, 0, 0, 11, 0]  # its own top 20% = index 8 and index 1
    assert fc.peak_recall(actual, forecast, share=0.2) == pytest.approx(0.5)
    assert fc.peak_recall(actual, actual, share=0.2) == 1.0
    assert fc.peak_recall(actual, [0] * 10, share=0.2) == 0.0


def test_peaks_are_exactly_the_top_share_with_ties_broken_by_time():
    assert fc.top_share_mask([3, 5, 5, 1, 5], 0.4).tolist() == [False, True, True, False, False]
    assert not fc.top_share_mask([0, 0, 0], 0.5).any()  # an empty week has no surge
    assert math.isnan(fc.peak_recall([0, 0, 0, 0], [1, 2, 3, 4]))


# ---- models on synthetic series ------------------------------------------------------------

def weekly_series(days: int = 84, seed: int = 3, hourly: bool = False) -> pd.DataFrame:
    """Poisson counts: a rising level times a weekday profile (times a day profile if hourly)."""
    rng = np.random.default_rng(seed)
    freq, n = ("h", days * 24) if hourly else ("D", days)
    ds = pd.date_range("2026-03-02", periods=n, freq=freq)  # a Monday
    weekday = np.array([1.3, 1.15, 1.0, 1.0, 0.95, 0.6, 0.5])[ds.weekday]
    level = 100 + 0.6 * np.arange(n) / (24 if hourly else 1)
    shape = (0.2 + np.sin(np.pi * ds.hour / 24) ** 2) if hourly else 1.0
    return pd.DataFrame({"ds": ds, "y": rng.poisson(level * weekday * shape).astype(float)})


def test_seasonal_naive_repeats_the_last_week_and_its_interval_holds_it():
    history = weekly_series(28)
    out = fc.seasonal_naive_forecast(history, "daily", 10, 0.8)
    assert out["yhat"].tolist() == history["y"].iloc[-7:].tolist() + history["y"].iloc[-7:-4].tolist()
    assert (out["yhat_lower"] <= out["yhat"]).all() and (out["yhat"] <= out["yhat_upper"]).all()
    assert out["ds"].iloc[0] == history["ds"].iloc[-1] + pd.Timedelta(days=1)
    hourly = fc.seasonal_naive_forecast(weekly_series(15, hourly=True), "hourly", 24, 0.8)
    assert len(hourly) == 24 and (hourly["yhat_lower"] >= 0).all()


def test_prophet_matches_or_beats_seasonal_naive_on_a_weekly_seasonal_series():
    config = fc.ForecastConfig(backtest_folds=3, backtest_horizon_days=7, backtest_step_days=7)
    rows = fc.backtest_series({"key": {"channel": "phone", "queue_id": "all", "series_level": "channel"},
                               "granularity": "daily", "history": weekly_series(), "holidays": None,
                               "config": config})
    assert [r["status"] for r in rows] == ["ok"] * 3
    prophet = np.mean([r["prophet_mape"] for r in rows])
    naive = np.mean([r["naive_mape"] for r in rows])
    assert prophet <= naive * 1.05, (prophet, naive)
    assert all(0 <= r["prophet_coverage"] <= 1 and 0 <= r["prophet_peak_recall"] <= 1 for r in rows)


def test_forecasts_are_repeatable_and_intervals_contain_the_forecast():
    task = {"key": {"channel": "chat", "queue_id": "Q1", "series_level": "queue"}, "granularity": "hourly",
            "history": weekly_series(21, hourly=True), "holidays": None, "config": fc.ForecastConfig(horizon_days=3)}
    first, second = fc.forecast_series(task), fc.forecast_series(task)
    assert first["status"] == "ok" and len(first["forecast"]) == 3 * 24
    pd.testing.assert_frame_equal(first["forecast"], second["forecast"])
    f = first["forecast"]
    assert ((f["yhat_lower"] <= f["yhat"]) & (f["yhat"] <= f["yhat_upper"]) & (f["yhat_lower"] >= 0)).all()
    assert f["is_peak"].sum() == math.ceil(0.1 * 72)


def test_a_series_too_short_is_skipped_with_a_reason_not_an_error():
    short = weekly_series(5)
    task = {"key": {"channel": "email", "queue_id": "Qnew", "series_level": "queue"}, "granularity": "daily",
            "history": short, "holidays": None, "config": fc.ForecastConfig()}
    result = fc.forecast_series(task)
    assert result["status"] == "skipped" and "5 days" in result["reason"] and result["forecast"] is None
    rows = fc.backtest_series(task)
    assert [r["status"] for r in rows] == ["skipped"] and rows[0]["reason"]
    flat = fc.typed_frame(fc.forecast_rows([result], fc.ForecastConfig()), fc.FORECAST_COLUMNS)
    assert len(flat) == 1 and flat["period_start"].isna().all() and flat["status"].iloc[0] == "skipped"


def test_when_prophet_fails_the_baseline_forecasts_and_the_reason_is_kept(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Stan optimisation failed")

    monkeypatch.setattr(fc, "prophet_forecast", broken)
    task = {"key": {"channel": "phone", "queue_id": "Q1", "series_level": "queue"}, "granularity": "daily",
            "history": weekly_series(28), "holidays": None, "config": fc.ForecastConfig(horizon_days=7)}
    result = fc.forecast_series(task)
    assert result["status"] == "fallback" and "Stan optimisation failed" in result["reason"]
    assert (result["forecast"]["model"] == "seasonal_naive").all() and len(result["forecast"]) == 7
    rows = fc.backtest_series(task)
    assert all(r["status"] == "partial" and r["prophet_mape"] is None and r["naive_mape"] is not None for r in rows)


def test_an_all_zero_series_forecasts_zero():
    history = weekly_series(21).assign(y=0.0)
    out = fc.prophet_forecast(history, "daily", 7)
    assert (out[["yhat", "yhat_lower", "yhat_upper"]].to_numpy() == 0).all()


def test_the_process_pool_returns_what_sequential_fitting_returns_in_order():
    tasks = [{"key": {"channel": c, "queue_id": "all", "series_level": "channel"}, "granularity": "daily",
              "history": weekly_series(35, seed=i), "holidays": None, "config": fc.ForecastConfig(horizon_days=7)}
             for i, c in enumerate(("chat", "phone", "email"))]
    sequential = fc.run_tasks(fc.forecast_series, tasks, workers=1)
    parallel = fc.run_tasks(fc.forecast_series, tasks, workers=2)
    assert [r["key"]["channel"] for r in parallel] == ["chat", "phone", "email"]
    for a, b in zip(sequential, parallel):
        pd.testing.assert_frame_equal(a["forecast"], b["forecast"])


def test_workers_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SI_FORECAST_WORKERS", "3")
    assert fc.forecast_workers() == 3
    monkeypatch.delenv("SI_FORECAST_WORKERS")
    assert fc.forecast_workers() == max(1, min(os.cpu_count() or 1, 2))
    monkeypatch.setenv("SI_FORECAST_WORKERS", "lots")
    with pytest.raises(ValueError, match="SI_FORECAST_WORKERS"):
        fc.forecast_workers()


def test_series_start_at_their_first_contact_and_run_to_the_end_with_zeros():
    counts = pd.DataFrame({"ds": pd.to_datetime(["2026-10-01 09:00", "2026-10-01 10:00", "2026-10-03 11:00"]),
                           "channel": ["chat", "chat", "phone"], "queue_id": ["Q1", "Q2", "Q1"],
                           "contacts": [2, 1, 4]})
    series = fc.build_series(counts, "hourly", pd.Timestamp("2026-10-04 23:00"))
    assert set(series) == {("chat", "all"), ("chat", "Q1"), ("chat", "Q2"), ("phone", "all"), ("phone", "Q1")}
    chat = series[("chat", "all")]
    assert chat["ds"].iloc[0] == pd.Timestamp("2026-10-01 00:00") and len(chat) == 4 * 24 and chat["y"].sum() == 3
    assert len(series[("phone", "Q1")]) == 2 * 24  # opened on the 3rd
    daily = fc.build_series(counts, "daily", pd.Timestamp("2026-10-04"))
    assert daily[("chat", "all")]["y"].tolist() == [3.0, 0.0, 0.0, 0.0]


def test_bad_vars_fall_back_or_are_clamped():
    config = fc.config_from_values({"horizon_days": "21", "interval_width": "1.7", "seed": "x",
                                    "backtest_folds": "-2", "transform": "cube"})
    assert config.horizon_days == 21 and config.interval_width == 0.99 and config.seed == 7
    assert config.backtest_folds == 0 and config.transform == "auto"
    assert fc.parse_levels("['channel']") == ("channel",) and fc.parse_levels("nonsense") == fc.SERIES_LEVELS


# ---- the holiday seed ----------------------------------------------------------------------

def test_the_holiday_seed_covers_every_special_day_the_generator_plants():
    from warehouse.generator.calendar import holiday_calendar

    seed = pd.read_csv(HOLIDAYS_CSV, parse_dates=["holiday_date"])
    covered: dict[tuple[date, str], str] = {}
    for row in seed.itertuples():
        for k in range(row.lower_window, row.upper_window + 1):
            covered[(row.holiday_date.date() + timedelta(days=k), row.holiday)] = row.kind
    planted = holiday_calendar(date(2023, 1, 1), date(2028, 12, 31))
    assert len(planted) > 300
    missing = [(h.day, h.holiday) for h in planted if covered.get((h.day, h.holiday)) != h.kind]
    assert not missing, missing[:5]
    assert set(seed["kind"]) == {"public", "festival", "returns_wave"} and set(seed["country"]) == {"CN"}


def test_holidays_by_kind_share_one_effect_per_kind():
    seed = pd.read_csv(HOLIDAYS_CSV)
    by_kind = fc.holidays_for_prophet(seed, "cn")
    assert set(by_kind["holiday"]) == {"public", "festival", "returns_wave"}
    public = by_kind[by_kind["holiday"] == "public"]
    assert (public["lower_window"] == 0).all() and (public["upper_window"] == 0).all()
    assert pd.Timestamp("2026-10-04") in set(public["ds"])  # inside the National Day span
    assert set(fc.holidays_for_prophet(seed, "CN", "name")["holiday"]) >= {"national_day", "618", "double_11"}
    assert fc.holidays_for_prophet(seed, "DE").empty


# ---- the marts on the session build --------------------------------------------------------

def dbt_vars() -> dict:
    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def read_mart(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return conn.execute(sql).df()


def check_forecast_marts(settings) -> dict:
    """Sanity of the three forecasting marts; returns figures worth printing."""
    horizon = int(dbt_vars()["forecast_horizon_days"])
    channels = set(read_mart(settings, "select distinct channel from marts.fct_conversations")["channel"])
    forecast = read_mart(settings, "select * from marts.fct_volume_forecast")
    ok = forecast[forecast["status"] != "skipped"]
    assert set(ok.loc[ok["series_level"] == "channel", "channel"]) == channels
    assert (ok["yhat"] >= 0).all() and (ok["yhat_lower"] >= 0).all()
    assert (ok["yhat_lower"] <= ok["yhat"] + 1e-9).all() and (ok["yhat"] <= ok["yhat_upper"] + 1e-9).all()
    periods = ok.groupby(["series_key", "granularity"]).size().reset_index(name="n")
    expected = periods["granularity"].map({"daily": horizon, "hourly": 24 * horizon})
    assert (periods["n"] == expected).all(), periods[periods["n"] != expected]
    last_day = read_mart(settings, "select max(started_date) as d from marts.fct_conversations")["d"].iloc[0]
    assert pd.Timestamp(ok["period_start"].min()) == pd.Timestamp(last_day) + pd.Timedelta(days=1)
    skipped = forecast[forecast["status"] == "skipped"]
    assert skipped["status_reason"].notna().all() and skipped["period_start"].isna().all()

    plan = read_mart(settings, "select * from marts.fct_staffing_plan")
    assert set(plan["channel"]) == channels
    assert (plan["required_agents"] >= 0).all() and (plan["scheduled_agents"] >= plan["required_agents"]).all()
    busy = plan[(plan["forecast_contacts"] > 0) & (plan["method"] == "erlang_c")]
    target = float(dbt_vars()["staffing_service_level_target"])
    assert not busy.empty and (busy["expected_service_level"] >= target - 1e-9).all()
    assert (busy["occupancy"] <= float(dbt_vars()["staffing_max_occupancy"]) + 1e-9).all()
    assert set(plan.loc[plan["channel"] == "email", "method"]) <= {"workload"}
    pooled = plan[plan["queue_id"] == "all"].groupby(["channel", "period_start"])["required_agents"].sum()
    dedicated = plan[plan["queue_id"] != "all"].groupby(["channel", "period_start"])["required_agents"].sum()
    assert (pooled <= dedicated.reindex(pooled.index).fillna(np.inf)).all()  # pooling never needs more agents
    return {"series": forecast["series_key"].nunique(), "skipped": skipped["series_key"].nunique(),
            "agent_hours": int(plan.loc[plan["queue_id"] == "all", "scheduled_agents"].sum())}


def check_backtest(settings) -> pd.DataFrame:
    bt = read_mart(settings, "select * from marts.fct_forecast_backtest")
    folds = int(dbt_vars()["forecast_backtest_folds"])
    channel = bt[(bt["series_level"] == "channel") & (bt["status"] == "ok")]
    assert len(channel) == folds * 2 * channel["channel"].nunique() and channel["channel"].nunique() == 3
    for col in ("prophet_mape", "naive_mape", "prophet_smape", "naive_smape"):
        assert channel[col].notna().all() and (channel[col] >= 0).all(), col
    for col in ("prophet_coverage", "naive_coverage", "prophet_peak_recall", "naive_peak_recall"):
        values = bt[col].dropna()
        assert ((values >= 0) & (values <= 1)).all(), col
    assert bt.loc[bt["status"] == "skipped", "status_reason"].notna().all()
    return channel.groupby("granularity")[["prophet_mape", "naive_mape", "prophet_coverage",
                                           "prophet_peak_recall", "naive_peak_recall"]].mean()


@pytest.mark.slow
def test_forecast_marts_exist_with_sane_values(use_built):
    figures = check_forecast_marts(use_built.settings)
    print("forecast marts:", figures)


@pytest.mark.slow
def test_backtest_reports_mape_for_prophet_and_the_baseline(use_built):
    summary = check_backtest(use_built.settings)
    print("\nbacktest on the sample (channel totals):\n", summary.round(3).to_string())


@pytest.mark.slow
def test_rerunning_the_forecast_gives_the_same_rows(use_built, tmp_path):
    settings = use_built.settings
    order = "order by series_key, period_start"
    before = read_mart(settings, f"select * from marts.fct_volume_forecast {order}")
    settings.export_env()
    dbt = Path(sys.executable).parent / "dbt"
    run = subprocess.run([str(dbt), "run", "--select", "fct_volume_forecast", "--project-dir", str(DBT_PROJECT_DIR),
                          "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target"),
                          "--log-path", str(tmp_path / "logs")],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:]
    after = read_mart(settings, f"select * from marts.fct_volume_forecast {order}")
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.slow
def test_forecast_page_shows_our_peak_recall_beside_the_articles(use_built):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    at.switch_page("dashboards/pages/forecast.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Peak recall claimed by the article"] == "83%"
    assert metrics["Our peak recall (Prophet, hourly)"].endswith("%")
    assert int(metrics["Agent-hours to roster"].replace(",", "")) > 0
    at.radio[0].set_value("daily").run()
    assert not at.exception
