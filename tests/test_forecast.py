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


def erlang_a_by_matrix(traffic: float, agents: int, patience_ratio: float, answer_in_aht: float) -> tuple:
    """Erlang A written independently: the truncated birth-death chain solved as a linear system, and the
    tagged caller's wait by the matrix exponential of its own absorbing chain (scipy)."""
    from scipy.linalg import expm, null_space

    size = agents + 400
    q = np.zeros((size, size))
    for k in range(size):
        if k + 1 < size:
            q[k, k + 1] = traffic
        if k > 0:
            q[k, k - 1] = min(k, agents) + max(k - agents, 0) * patience_ratio
        q[k, k] = -q[k].sum()
    pi = null_space(q.T)[:, 0]
    pi = pi / pi.sum()
    ahead = size - agents
    tagged = np.zeros((ahead + 2, ahead + 2))  # 0..ahead-1 places ahead, then answered, then hung up
    for j in range(ahead):
        move = agents + j * patience_ratio
        tagged[j, j - 1 if j else ahead] = move
        tagged[j, ahead + 1] = patience_ratio
        tagged[j, j] = -(move + patience_ratio)
    answered = expm(tagged * answer_in_aht)[:ahead, ahead]
    sl = pi[:agents].sum() + (pi[agents:] * answered).sum()
    abandonment = patience_ratio * (np.arange(ahead) * pi[agents:]).sum() / traffic
    return sl, abandonment


@pytest.mark.parametrize("contacts,aht,agents,patience,answer", [
    (100, 360, 11, 300, 20), (100, 360, 9, 120, 20), (600, 240, 42, 90, 30), (30, 600, 6, 400, 60)])
def test_erlang_a_matches_an_exact_matrix_solution(contacts, aht, agents, patience, answer):
    reading = st.erlang_a(contacts, aht, agents, patience, answer)
    sl, abandonment = erlang_a_by_matrix(contacts * aht / 3600, agents, aht / patience, answer / aht)
    assert reading.service_level == pytest.approx(sl, abs=1e-6)
    assert reading.abandonment == pytest.approx(abandonment, abs=1e-6)


def test_erlang_a_meets_its_limits_erlang_c_and_the_infinite_server_queue():
    # no one hangs up: Erlang C's textbook figures (A = 10 Erlangs)
    for agents, wait in ((11, 0.6821), (12, 0.4494), (14, 0.1741)):
        reading = st.erlang_a(200, 180, agents, math.inf, 20)
        assert reading.probability_of_wait == pytest.approx(wait, abs=5e-5) and reading.abandonment == 0
        assert reading.service_level == pytest.approx(st.service_level(200, 180, agents, 20), abs=1e-9)
    # patience equal to the handle time: everyone leaves at the same rate, the count is Poisson(A)
    reading = st.erlang_a(200, 180, 10, 180, 20)
    poisson_below = sum(math.exp(-10) * 10 ** k / math.factorial(k) for k in range(10))
    assert reading.probability_of_wait == pytest.approx(1 - poisson_below, abs=1e-9)
    mean_queue = sum((k - 10) * math.exp(-10) * 10 ** k / math.factorial(k) for k in range(10, 120))
    assert reading.abandonment == pytest.approx(mean_queue / 10, abs=1e-9)
    # fewer agents than Erlangs is a finite queue once callers hang up; more patience, worse service
    assert 0 < st.erlang_a(200, 180, 8, 120, 20).service_level < 1
    assert st.erlang_a(200, 180, 11, 600, 20).service_level < st.erlang_a(200, 180, 11, 60, 20).service_level


def test_erlang_a_staffs_no_more_than_erlang_c_and_as_few_as_meet_the_target():
    for contacts, aht, patience in ((100, 360, 120), (2000, 300, 60), (40, 300, 600)):
        n, reading = st.required_agents_erlang_a(contacts, aht, patience, 0.8, 20, 0.85)
        erlang_c_agents = st.required_agents(contacts, aht, 0.8, 20, 0.85, 0.0).agents
        assert n <= erlang_c_agents and reading.service_level >= 0.8 and reading.occupancy <= 0.85
        fewer = st.erlang_a(contacts, aht, n - 1, patience, 20)
        assert fewer.service_level < 0.8 or fewer.occupancy > 0.85
    assert st.required_agents_erlang_a(100, 360, 120)[0] == 12 < st.required_agents(100, 360, shrinkage=0).agents


def test_patience_is_the_waiting_time_over_the_hang_ups():
    calls = [("phone", "Q1", 30.0, True)] * 20 + [("phone", "Q1", 10.0, False)] * 40 + [("phone", "Q2", 50.0, True)]
    queue, channel = st.estimate_patience(calls)
    assert queue == {("phone", "Q1"): pytest.approx((20 * 30 + 40 * 10) / 20)}  # Q2: one hang-up is too few
    assert channel["phone"] == pytest.approx((20 * 30 + 40 * 10 + 50) / 21)
    assert st.pick_patience(queue, channel, "phone", "Q2") == (channel["phone"], "channel")
    assert st.pick_patience(queue, channel, "chat", "C1") == (None, "none")


def test_the_replayed_day_gives_the_service_level_erlang_a_promised():
    """The bench's bar on a steady hour: simulation within 3 points of the formula, and the fewest agents that
    meet the target in the simulation within one of Erlang A's."""
    contacts, aht, patience, answer = 120, 300, 180, 20
    n, reading = st.required_agents_erlang_a(contacts, aht, patience, 0.8, answer, 1.0)
    hours = 8

    def replayed(agents: int) -> float:
        sim = st.simulate_day([(contacts, agents)] * hours, aht, patience, answer, replications=60, seed=11)
        steady = sim[1:]  # the first hour starts with an empty queue
        return sum(s.answered_within for s in steady) / sum(s.offered for s in steady)

    assert abs(replayed(n) - reading.service_level) <= 0.03
    simulated_min = min(a for a in range(max(1, n - 3), n + 4) if replayed(a) >= 0.8)
    assert abs(simulated_min - n) <= 1
    sim = st.simulate_day([(contacts, n)] * hours, aht, patience, answer, replications=60, seed=11)
    assert abs(sum(s.abandoned for s in sim[1:]) / sum(s.offered for s in sim[1:]) - reading.abandonment) <= 0.03


def _rising_arrivals(days: int, per_hour: int, hour: int = 10) -> list[tuple]:
    """A morning hour whose calls rise through it: the last 5 minutes get three times the first 5 minutes' calls."""
    weights = [1 + k / 5.5 for k in range(12)]
    rows = []
    for d in range(days):
        for slot, weight in enumerate(weights):
            for i in range(round(per_hour * weight / sum(weights))):
                rows.append((date(2026, 3, 1) + timedelta(days=d), hour, slot * 5 + i % 5))
    return rows


def test_steady_arrivals_within_the_hour_need_what_the_hourly_plan_needs():
    steady = [tuple([1 / 12] * 12)] * 5
    n, reading = st.required_agents_erlang_a(300, 240, 180, 0.8, 20, 1.0)
    assert st.required_agents_intra_hour(300, 240, 180, steady, 0.8, 20, 1.0) == (n, pytest.approx(
        reading.service_level, abs=1e-3))


def test_rising_arrivals_need_more_agents_and_the_replay_holds_the_promise():
    """On an hour whose calls rise through it (the last 5 minutes three times the first), the hourly Erlang A
    roster promises 0.84 and the replay gives 0.70; the roster planned on the within-hour pattern meets the
    target in the replay, with at most one agent more than the fewest that do. Each slot read as a steady
    state errs on the safe side (promised 0.82, replayed 0.86): the gap bar here is 5 points, not 3."""
    width, by_hour = st.intra_hour_patterns(_rising_arrivals(days=8, per_hour=300))
    assert width == 5 and len(by_hour[10]) == 8  # about 300 calls an hour: 25 per 5-minute slot
    contacts, aht, patience, answer = 300, 240, 180, 20
    n_hourly, _ = st.required_agents_erlang_a(contacts, aht, patience, 0.8, answer, 1.0)
    n, promised = st.required_agents_intra_hour(contacts, aht, patience, by_hour[10], 0.8, answer, 1.0)
    assert n > n_hourly and promised >= 0.8
    shares = by_hour[10][0]

    def replayed(agents: int) -> float:
        """The hour slot by slot at the pattern's counts, after a steady warm-up hour (5-minute periods)."""
        slots = len(shares)
        day = [(contacts / slots, agents)] * slots + [(contacts * share, agents) for share in shares]
        sim = st.simulate_day(day, aht, patience, answer, replications=200, seed=5,
                              period_seconds=3600.0 / slots)[slots:]
        return sum(x.answered_within for x in sim) / sum(x.offered for x in sim)

    assert replayed(n_hourly) < 0.8 - 0.05  # the hourly plan's promise does not hold
    assert replayed(n) >= 0.8 and abs(replayed(n) - promised) <= 0.05
    fewest = min(a for a in range(n_hourly, n + 2) if replayed(a) >= 0.8)
    assert n - fewest <= 1


def test_thin_history_gives_no_within_hour_pattern():
    assert st.intra_hour_patterns(_rising_arrivals(days=8, per_hour=30)) == (None, {})
    width, by_hour = st.intra_hour_patterns(_rising_arrivals(days=3, per_hour=300))
    assert width == 5 and by_hour == {}  # fewer than five days of that hour
    assert st.intra_hour_patterns([]) == (None, {})


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
    config = fc.ForecastConfig(backtest_folds=3, backtest_horizon_days=7, backtest_step_days=7,
                               models=("seasonal_naive", "prophet"))
    rows = fc.backtest_series({"key": {"channel": "phone", "queue_id": "all", "series_level": "channel"},
                               "granularity": "daily", "history": weekly_series(), "holidays": None,
                               "config": config})
    assert [(r["fold"], r["model"], r["status"]) for r in rows] == [
        (fold, model, "ok") for fold in (1, 2, 3) for model in ("seasonal_naive", "prophet")]
    prophet = np.mean([r["mape"] for r in rows if r["model"] == "prophet"])
    naive = np.mean([r["mape"] for r in rows if r["model"] == "seasonal_naive"])
    assert prophet <= naive * 1.05, (prophet, naive)
    assert all(0 <= r["coverage"] <= 1 and 0 <= r["peak_recall"] <= 1 for r in rows)


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
    config = fc.ForecastConfig(horizon_days=7, models=("seasonal_naive", "prophet"))
    rows = fc.backtest_series({**task, "config": config})
    prophet = [r for r in rows if r["model"] == "prophet"]
    naive = [r for r in rows if r["model"] == "seasonal_naive"]
    assert prophet and all(r["status"] == "failed" and "Stan optimisation failed" in r["reason"]
                           and r.get("mape") is None for r in prophet)
    assert naive and all(r["status"] == "ok" and r["mape"] is not None for r in naive)
    assert {r["chosen_model"] for r in rows} == {"seasonal_naive"}  # a model that fails a fold cannot win


def daily_task(history: pd.DataFrame, models: tuple[str, ...], folds: int = 4, horizon: int = 14,
               granularity: str = "daily") -> dict:
    config = fc.ForecastConfig(backtest_folds=folds, backtest_horizon_days=horizon, backtest_step_days=7,
                               horizon_days=horizon, models=models)
    return {"key": {"channel": "phone", "queue_id": "all", "series_level": "channel"}, "granularity": granularity,
            "history": history, "holidays": None, "config": config}


def mean_of(rows: list[dict], model: str, metric: str) -> float:
    return float(np.mean([r[metric] for r in rows if r["model"] == model]))


def test_selection_picks_the_trend_follower_on_a_weekly_series_with_a_strong_trend():
    rng = np.random.default_rng(11)
    ds = pd.date_range("2026-01-05", periods=16 * 7, freq="D")
    level = 200 + 4.0 * np.arange(ds.size)  # +28 a week: last week's copy is always a week behind
    weekday = np.array([1.4, 1.2, 1.0, 1.0, 0.9, 0.5, 0.4])[ds.weekday]
    history = pd.DataFrame({"ds": ds, "y": np.round(level * weekday * rng.normal(1, 0.01, ds.size))})
    result = fc.evaluate_series(daily_task(history, ("seasonal_naive", "ets")))
    rows = [r for r in result["rows"] if r["status"] == "ok"]
    assert result["chosen"] == "ets", result["reason"]
    assert mean_of(rows, "ets", "rmse") < 0.5 * mean_of(rows, "seasonal_naive", "rmse")
    assert mean_of(rows, "ets", "smape") < mean_of(rows, "seasonal_naive", "smape")
    assert all(r["chosen_model"] == "ets" and r["is_chosen"] == (r["model"] == "ets") for r in result["rows"])


def test_selection_keeps_smoothing_over_copying_last_week_on_pure_noise():
    rng = np.random.default_rng(5)
    ds = pd.date_range("2026-01-05", periods=16 * 7, freq="D")
    history = pd.DataFrame({"ds": ds, "y": rng.poisson(200, ds.size).astype(float)})
    result = fc.evaluate_series(daily_task(history, ("seasonal_naive", "seasonal_es")))
    rows = result["rows"]
    assert result["chosen"] == "seasonal_es"
    assert mean_of(rows, "seasonal_es", "rmse") < 0.85 * mean_of(rows, "seasonal_naive", "rmse")


def test_the_lowest_mean_wins_a_failed_fold_disqualifies_and_ties_go_to_the_simpler_model():
    def row(model, fold, rmse, status="ok"):
        return {"model": model, "fold": fold, "status": status, "rmse": rmse,
                "smape": None if rmse is None else rmse / 100}

    models = ("seasonal_naive", "seasonal_es", "ets")
    rows = [row("seasonal_naive", 1, 10), row("seasonal_naive", 2, 10), row("seasonal_es", 1, 6),
            row("seasonal_es", 2, 14), row("ets", 1, 2), row("ets", 2, None, "failed")]
    assert fc.choose_model(rows, models, "prophet")[0] == "seasonal_naive"  # a tie at 10: the simpler one
    assert fc.choose_model(rows, models, "prophet", metric="smape")[0] == "seasonal_naive"
    rows[3]["rmse"] = 13
    assert fc.choose_model(rows, models, "prophet")[0] == "seasonal_es"
    assert fc.choose_model([], models, "prophet") == ("prophet", "no backtest fold could be scored")


def hourly_with_shapes(weeks: int = 6, noise: float = 0.0, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Hourly arrivals whose every day follows its weekday's exact shape (weekend peaks later)."""
    hours = np.arange(24)
    weekday_shape = np.exp(-0.5 * ((hours - 10) / 2.5) ** 2) + 0.05
    weekend_shape = np.exp(-0.5 * ((hours - 15) / 3.0) ** 2) + 0.05
    shapes = np.array([weekday_shape] * 5 + [weekend_shape] * 2)
    shapes /= shapes.sum(axis=1, keepdims=True)
    totals = np.array([2400, 2200, 2000, 2000, 1900, 900, 700], dtype=float)
    ds = pd.date_range("2026-02-02", periods=weeks * 7 * 24, freq="h")  # a Monday
    y = totals[ds.weekday] * shapes[ds.weekday, ds.hour]
    if noise:
        y = y * np.random.default_rng(seed).normal(1, noise, ds.size)
    return pd.DataFrame({"ds": ds, "y": y}), shapes


def test_top_down_spreads_each_day_by_the_intraday_profile_of_its_weekday():
    history, shapes = hourly_with_shapes()
    np.testing.assert_allclose(fc.intraday_profile(history, weeks=4), shapes, atol=1e-12)
    out = fc.top_down_forecast(history, "hourly", 14 * 24)
    days = out.assign(day=out["ds"].dt.normalize())
    for day, group in days.groupby("day"):
        share = group["yhat"].to_numpy() / group["yhat"].sum()
        np.testing.assert_allclose(share, shapes[day.weekday()], atol=1e-9)
        expected_total = history.loc[history["ds"].dt.weekday == day.weekday(), "y"].sum() / 6
        assert group["yhat"].sum() == pytest.approx(expected_total, rel=0.01)
    assert ((out["yhat_lower"] <= out["yhat"]) & (out["yhat"] <= out["yhat_upper"])).all()
    with pytest.raises(ValueError, match="hourly series only"):
        fc.top_down_forecast(history, "daily", 7)


def open_hours_series(weeks: int = 6, seed: int = 2) -> pd.DataFrame:
    """A centre open Monday to Friday 08:00-17:59: no arrival at night or at weekends."""
    ds = pd.date_range("2026-02-02", periods=weeks * 7 * 24, freq="h")
    rng = np.random.default_rng(seed)
    open_ = (ds.weekday < 5) & (ds.hour >= 8) & (ds.hour < 18)
    rate = 80 * (1 + 0.5 * np.sin(np.pi * (ds.hour - 8) / 10)) * (1.3 - 0.1 * ds.weekday)
    return pd.DataFrame({"ds": ds, "y": np.where(open_, rng.poisson(np.clip(rate, 1, None)), 0).astype(float)})


def test_closed_hours_are_left_out_of_fitting_forecast_as_zero_and_not_scored():
    history = open_hours_series()
    view = fc.open_view(history, "hourly")
    assert view.season == 50 and view.per_day == 10 and view.y.size == 6 * 50
    out = fc.seasonal_naive_forecast(history, "hourly", 7 * 24)
    closed = ~out["is_open"]
    assert closed.sum() == 7 * 24 - 50
    assert (out.loc[closed, ["yhat", "yhat_lower", "yhat_upper"]].to_numpy() == 0).all()
    last_week_open = history["y"].to_numpy()[-7 * 24:][out["is_open"].to_numpy()]
    np.testing.assert_array_equal(out.loc[out["is_open"], "yhat"].to_numpy(), last_week_open)
    result = fc.evaluate_series(daily_task(history, ("seasonal_naive", "seasonal_es", "top_down"), folds=2,
                                           horizon=7, granularity="hourly"))
    rows = [r for r in result["rows"] if r["status"] == "ok"]
    assert len(rows) == 6 and all(r["scored_periods"] == 50 for r in rows)
    # scored over open hours only: zero-filled nights would have made every sMAPE far smaller
    test = history.iloc[-7 * 24:]
    naive = fc.seasonal_naive_forecast(history.iloc[:-7 * 24], "hourly", 7 * 24)
    is_open = naive["is_open"].to_numpy()
    expected = fc.smape(test["y"].to_numpy()[is_open], naive["yhat"].to_numpy()[is_open])
    assert [r["smape"] for r in rows if r["model"] == "seasonal_naive" and r["fold"] == 2] == [
        pytest.approx(expected)]


def test_a_closed_day_is_imputed_for_fitting_and_left_out_of_the_scores():
    ds = pd.date_range("2026-02-02", periods=8 * 7, freq="D")
    y = np.where(ds.weekday < 5, 1000.0 + 10 * ds.weekday, 0.0)
    holiday = pd.Timestamp("2026-03-25")  # a Wednesday in the last week
    y[ds == holiday] = 0.0
    history = pd.DataFrame({"ds": ds, "y": y})
    view = fc.open_view(history, "daily")
    assert view.season == 5 and (~view.observed).sum() == 1
    out = fc.seasonal_naive_forecast(history, "daily", 7)
    assert out.loc[out["ds"] == holiday + pd.Timedelta(days=7), "yhat"].item() == 1020.0  # not the holiday's 0
    assert out.loc[out["ds"].dt.weekday >= 5, "yhat"].eq(0).all()
    scored = fc.scored_mask(history.iloc[:-7], history.iloc[-7:], "daily", 6)
    assert scored.tolist() == [True, True, False, True, True, False, False]
    # a quiet queue with empty days keeps them: an empty day is plausible at three contacts a day
    sparse = pd.DataFrame({"ds": ds, "y": np.random.default_rng(3).poisson(3, ds.size).astype(float)})
    assert fc.open_view(sparse, "daily").observed.all()


def test_a_quiet_queue_keeps_its_empty_hours_open():
    # 0.1 contacts an hour: most hours of the week are empty for six weeks by chance, not closed
    ds = pd.date_range("2026-02-02", periods=8 * 7 * 24, freq="h")
    quiet = pd.DataFrame({"ds": ds, "y": np.random.default_rng(8).poisson(0.1, ds.size).astype(float)})
    assert fc.open_view(quiet, "hourly").pattern.all()
    assert fc.seasonal_es_forecast(quiet, "hourly", 24)["is_open"].all()


def test_conformal_scaling_brings_a_too_narrow_interval_to_its_nominal_coverage():
    rng = np.random.default_rng(0)
    actual = 100 + rng.normal(0, 10, 4000)
    yhat = np.full(actual.size, 100.0)
    lower, upper = yhat - 4, yhat + 4  # +-4 where +-12.8 would cover 80%
    assert fc.interval_coverage(actual, lower, upper) < 0.4
    scale = fc.conformal_scale(actual[:2000], yhat[:2000], lower[:2000], upper[:2000], 0.8)
    assert scale[0] == pytest.approx(12.8 / 4, rel=0.1) and scale[1] == pytest.approx(12.8 / 4, rel=0.1)
    lo, hi = fc.scaled_interval(yhat[2000:], lower[2000:], upper[2000:], scale)
    assert fc.interval_coverage(actual[2000:], lo, hi) == pytest.approx(0.8, abs=0.03)
    shut = np.zeros(3, dtype=bool)
    assert fc.scaled_interval(np.zeros(3), np.zeros(3), np.zeros(3), (2.0, 2.0), shut)[1].tolist() == [0, 0, 0]


def test_the_forecast_publishes_the_backtest_winner_with_its_calibrated_interval():
    history = weekly_series(56)
    task = daily_task(history, ("seasonal_naive", "seasonal_es"))
    evaluation = fc.evaluate_series(task)
    frame = fc.typed_frame(fc.backtest_rows([evaluation["rows"]], task["config"]), fc.BACKTEST_COLUMNS)
    assert list(frame.columns) == list(fc.BACKTEST_COLUMNS) and frame["series_key"].eq("phone|all|daily").all()
    choice = fc.choices_from_backtest(frame)["phone|all|daily"]
    assert choice["model"] == evaluation["chosen"] and set(choice["interval_scales"]) == {"seasonal_naive",
                                                                                            "seasonal_es"}
    published = fc.forecast_series({**task, **choice})
    raw = fc.forecast_series({**task, "model": choice["model"]})
    assert published["status"] == "ok" and (published["forecast"]["model"] == choice["model"]).all()
    pd.testing.assert_series_equal(published["forecast"]["yhat"], raw["forecast"]["yhat"])
    below, above = choice["interval_scales"][choice["model"]]
    width = raw["forecast"]["yhat_upper"] - raw["forecast"]["yhat"]
    np.testing.assert_allclose(published["forecast"]["yhat_upper"] - published["forecast"]["yhat"],
                               above * np.maximum(width, fc.INTERVAL_FLOOR))


def test_no_country_means_no_holidays_and_nothing_assumes_one():
    counts = pd.DataFrame({"period_start": pd.date_range("2026-01-05", periods=21 * 24, freq="h"),
                           "channel": "chat", "queue_id": "Q1", "offered_contacts": 3})
    seed = pd.read_csv(HOLIDAYS_CSV)
    tasks, _ = fc.tasks_from_config({"country": None}, counts, seed)
    assert tasks and all(t["holidays"] is None for t in tasks)
    tasks, _ = fc.tasks_from_config({"country": "us"}, counts, seed.assign(country="US"))
    assert all(len(t["holidays"]) > 0 for t in tasks)


def test_the_dbt_models_read_every_config_key_literally():
    # dbt hands a Python model only the config keys written as dbt.config.get("key") in its file
    import re

    from service_insight.settings import DBT_PROJECT_DIR as project

    folder = project / "models" / "marts" / "forecasting"
    declared = yaml.safe_load((folder / "_forecasting__models.yml").read_text())["models"]
    for name in ("fct_volume_forecast", "fct_forecast_backtest"):
        keys = set(next(m for m in declared if m["name"] == name)["config"])
        read = set(re.findall(r'dbt\.config\.get\("(\w+)"\)', (folder / f"{name}.py").read_text()))
        assert keys - {"contract"} <= read, (name, keys - read)


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


def test_a_stray_old_event_does_not_stretch_a_series_and_history_is_bounded():
    month = pd.date_range("2026-09-01", "2026-09-30 23:00", freq="h")
    counts = pd.DataFrame({"ds": [pd.Timestamp("2011-03-05 10:00"), *month], "channel": "social",
                           "queue_id": ["Q1"] + ["Q1"] * len(month), "contacts": 1})
    for granularity, periods in (("daily", 30), ("hourly", 30 * 24)):
        series = fc.build_series(counts, granularity, pd.Timestamp("2026-09-30 23:00"))
        total = series[("social", "all")]
        assert len(total) == periods and total["ds"].iloc[0] == pd.Timestamp("2026-09-01")
        assert total["y"].sum() == len(month)  # the 2011 event is left out, nothing else
    # Without the gap rule the window bound alone keeps 2011 out; an event inside the window then counts.
    no_gap_rule = fc.ForecastConfig(max_gap_days=0, max_history_days={"daily": 400, "hourly": 60})
    assert len(fc.build_series(counts, "daily", pd.Timestamp("2026-09-30"), no_gap_rule)[("social", "all")]) == 30
    counts.loc[0, "ds"] = pd.Timestamp("2026-01-10 10:00")
    stretched = fc.build_series(counts, "daily", pd.Timestamp("2026-09-30"), no_gap_rule)[("social", "all")]
    assert len(stretched) == 264 and stretched["ds"].iloc[0] == pd.Timestamp("2026-01-10")
    assert len(fc.build_series(counts, "daily", pd.Timestamp("2026-09-30"))[("social", "all")]) == 30
    config = fc.config_from_values({"max_history_days_daily": "5", "max_gap_days": "-3"})
    assert config.max_history_days["daily"] == 14 and config.max_gap_days == 0  # clamped, never empty


def _forecast_row(channel, queue, start, yhat, level="queue"):
    return {"channel": channel, "queue_id": queue, "series_level": level, "granularity": "daily",
            "period_start": pd.Timestamp(start), "yhat": yhat, "yhat_lower": yhat * 0.5, "yhat_upper": yhat * 1.5}


def _history_task(channel, queue, per_day, level="queue"):
    days = pd.date_range("2026-09-01", periods=28, freq="D")
    return {"key": {"channel": channel, "queue_id": queue, "series_level": level}, "granularity": "daily",
            "history": pd.DataFrame({"ds": days, "y": float(per_day)})}


def test_queue_forecasts_add_up_to_their_channel_and_keep_their_own_figure():
    rows = [_forecast_row("chat", "all", "2026-10-01", 100.0, "channel"),
            _forecast_row("chat", "Q1", "2026-10-01", 70.0), _forecast_row("chat", "Q2", "2026-10-01", 50.0),
            _forecast_row("chat", "all", "2026-10-02", 40.0, "channel"),
            _forecast_row("chat", "Q1", "2026-10-02", 0.0), _forecast_row("chat", "Q2", "2026-10-02", 0.0)]
    tasks = [_history_task("chat", "all", 30, "channel"), _history_task("chat", "Q1", 20),
             _history_task("chat", "Q2", 10)]
    out = {(r["queue_id"], r["period_start"].day): r for r in fc.reconcile_queue_forecasts(rows, tasks)}
    assert out[("Q1", 1)]["yhat"] + out[("Q2", 1)]["yhat"] == pytest.approx(100.0)
    assert out[("Q1", 1)]["yhat"] == pytest.approx(70 * 100 / 120) and out[("Q1", 1)]["yhat_unreconciled"] == 70.0
    assert out[("Q1", 1)]["yhat_lower"] <= out[("Q1", 1)]["yhat"] <= out[("Q1", 1)]["yhat_upper"]
    # Both queue models said zero but the channel expects 40: shared by their recent volumes, 2 to 1.
    assert out[("Q1", 2)]["yhat"] == pytest.approx(40 * 2 / 3) and out[("Q2", 2)]["yhat"] == pytest.approx(40 / 3)
    assert out[("all", 1)]["yhat"] == 100.0 == out[("all", 1)]["yhat_unreconciled"]
    # A third queue too new to forecast keeps its recent share (10 of 40) out of the others' total.
    rows = [_forecast_row("chat", "all", "2026-10-01", 100.0, "channel"),
            _forecast_row("chat", "Q1", "2026-10-01", 70.0), _forecast_row("chat", "Q2", "2026-10-01", 50.0)]
    out = fc.reconcile_queue_forecasts(rows, tasks + [_history_task("chat", "Qnew", 10)])
    assert sum(r["yhat"] for r in out if r["series_level"] == "queue") == pytest.approx(75.0)


def test_bad_vars_fall_back_or_are_clamped():
    config = fc.config_from_values({"horizon_days": "21", "interval_width": "1.7", "seed": "x",
                                    "backtest_folds": "-2", "transform": "cube", "models": "['ets', 'tarot']",
                                    "selection_metric": "vibes", "closed_lookback_weeks": "-1",
                                    "calibrate_intervals": "False"})
    assert config.horizon_days == 21 and config.interval_width == 0.99 and config.seed == 7
    assert config.backtest_folds == 0 and config.transform == "auto"
    assert config.models == ("ets",) and config.selection_metric == "rmse" and config.closed_lookback_weeks == 0
    assert config.calibrate_intervals is False and fc.config_from_values({}).calibrate_intervals is True
    assert fc.parse_models("nonsense") == fc.MODEL_NAMES
    split = fc.config_from_values({"models": "ets,top_down", "models_hourly": "top_down,prophet"})
    assert fc.candidate_models(split, "daily") == ("ets",)  # top_down forecasts hours only
    assert fc.candidate_models(split, "hourly") == ("top_down", "prophet")
    assert fc.parse_levels("['channel']") == ("channel",) and fc.parse_levels("nonsense") == fc.SERIES_LEVELS


# ---- the holiday seed ----------------------------------------------------------------------

def test_the_holiday_seed_covers_every_special_day_the_generator_plants():
    from sample_data.calendar import holiday_calendar

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
    # Erlang A beside Erlang C: never more agents (hang-ups only shorten the queue), target still met
    assert (plan["required_agents_erlang_a"] <= plan["required_agents"]).all()
    phone = busy[busy["channel"] == "phone"]
    assert set(phone["patience_source"]) <= {"queue", "channel"} and (phone["patience_seconds"] > 0).all()
    assert (busy["expected_service_level_erlang_a"] >= target - 1e-9).all()
    assert ((busy["expected_abandonment_erlang_a"] >= 0) & (busy["expected_abandonment_erlang_a"] < 1)).all()
    validation = read_mart(settings, "select * from marts.fct_staffing_validation")
    assert not validation.empty and set(validation["channel"]) <= {"phone", "chat"}
    day = validation[validation["simulated_contacts"] > 0]
    weights = day["simulated_contacts"] / day["replications"]
    planned = float((day["expected_service_level_erlang_a"] * weights).sum() / weights.sum())
    replayed = float((day["simulated_service_level"] * weights).sum() / weights.sum())
    assert abs(planned - replayed) <= 0.05, (planned, replayed)  # the sample's thin hours are noisy; bench: ±3
    return {"series": forecast["series_key"].nunique(), "skipped": skipped["series_key"].nunique(),
            "agent_hours": int(plan.loc[plan["queue_id"] == "all", "scheduled_agents"].sum())}


def check_backtest(settings) -> pd.DataFrame:
    bt = read_mart(settings, "select * from marts.fct_forecast_backtest")
    folds = int(dbt_vars()["forecast_backtest_folds"])
    channel = bt[(bt["series_level"] == "channel") & (bt["status"] == "ok")]
    assert channel["channel"].nunique() == 3
    per_series = channel.groupby(["series_key", "model"]).size()
    assert (per_series == folds).all(), per_series[per_series != folds]
    # the build's default candidates: hourly MSTL (`ets`) only when forecast_models_hourly adds it
    assert set(channel.loc[channel["granularity"] == "daily", "model"]) == {"seasonal_naive", "seasonal_es", "ets",
                                                                            "prophet"}
    assert set(channel.loc[channel["granularity"] == "hourly", "model"]) == {"seasonal_naive", "seasonal_es",
                                                                             "top_down", "prophet"}
    for col in ("mape", "smape", "rmse"):
        assert channel[col].notna().all() and (channel[col] >= 0).all(), col
    for col in ("coverage", "raw_coverage", "peak_recall"):
        values = bt[col].dropna()
        assert ((values >= 0) & (values <= 1)).all(), col
    assert bt.loc[bt["status"] != "ok", "status_reason"].notna().all()
    # one winner per series, flagged on its own rows, and the forecast publishes exactly that model
    assert (bt.groupby("series_key")["chosen_model"].nunique() == 1).all()
    assert (bt.loc[bt["is_chosen"].fillna(False).astype(bool), "model"]
            == bt.loc[bt["is_chosen"].fillna(False).astype(bool), "chosen_model"]).all()
    forecast = read_mart(settings, "select distinct series_key, model, status from marts.fct_volume_forecast "
                                   "where status = 'ok'")
    chosen = bt.drop_duplicates("series_key").set_index("series_key")["chosen_model"]
    assert (forecast["model"].to_numpy() == chosen.reindex(forecast["series_key"]).to_numpy()).all()
    return channel.groupby(["granularity", "model"])[["mape", "smape", "rmse", "coverage", "peak_recall"]].mean()


@pytest.mark.slow
def test_forecast_marts_exist_with_sane_values(use_built):
    figures = check_forecast_marts(use_built.settings)
    print("forecast marts:", figures)


@pytest.mark.slow
def test_backtest_scores_every_candidate_and_the_forecast_publishes_the_winner(use_built):
    summary = check_backtest(use_built.settings)
    print("\nbacktest on the sample (channel totals):\n", summary.round(3).to_string())


def test_the_published_queue_forecasts_add_up_to_the_channel_forecast(use_built):
    rows = read_mart(use_built.settings, "select * from marts.fct_volume_forecast where period_start is not null")
    queues, totals = rows[rows["series_level"] == "queue"], rows[rows["series_level"] == "channel"]
    assert len(queues) and queues["yhat_unreconciled"].notna().all()
    summed = queues.groupby(["granularity", "channel", "period_start"])["yhat"].sum()
    channel = totals.set_index(["granularity", "channel", "period_start"])["yhat"]
    skipped = read_mart(use_built.settings, "select distinct granularity, channel from marts.fct_volume_forecast "
                                            "where series_level = 'queue' and status = 'skipped'")
    complete = ~summed.index.droplevel(2).isin(list(skipped.itertuples(index=False, name=None)))
    assert complete.any()
    np.testing.assert_allclose(summed[complete].to_numpy(dtype=float),
                               channel.reindex(summed[complete].index).to_numpy(dtype=float), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_rerunning_the_forecast_gives_the_same_rows(use_built, tmp_path):
    settings = use_built.settings
    order = "order by series_key, period_start"
    before = read_mart(settings, f"select * from marts.fct_volume_forecast {order}")
    settings.export_env()
    from orchestration.dbt_project import seed_partial_parse

    seed_partial_parse(tmp_path / "target")  # the build's parse, as the build's own dbt steps start from
    dbt = Path(sys.executable).parent / "dbt"
    run = subprocess.run([str(dbt), "run", "--select", "fct_volume_forecast", "--project-dir", str(DBT_PROJECT_DIR),
                          "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target"),
                          "--log-path", str(tmp_path / "logs")],
                         # Refit for real: the reused result of the build would make this comparison trivial.
                         env={**os.environ, "SI_RESULT_CACHE": "0"},
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:]
    after = read_mart(settings, f"select * from marts.fct_volume_forecast {order}")
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.slow
def test_forecast_page_shows_our_peak_recall_beside_the_articles(use_built):
    from tests.app_pages import open_page

    at = open_page("dashboards/pages/forecast.py")
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Peak recall claimed by the article"] == "83%"
    assert metrics["Our peak recall (chosen models, hourly)"].endswith("%")
    assert int(metrics["Agent-hours to roster"].replace(",", "")) > 0
    # the plan replayed: Erlang A's promise beside the simulated day, for a queued channel
    assert metrics["Planned service level (day 1)"].endswith("%") and metrics["Replayed service level"].endswith("%")
    next(s for s in at.selectbox if s.label == "Channel").set_value("phone").run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean patience"].endswith(" s")  # the sample's phone calls do hang up
    assert int(metrics["Agent-hours Erlang C over-staffs"].replace(",", "")) >= 0
    # ~44 contacts a day: no slot width reaches 20 contacts, and the page says why there is no within-hour plan
    assert any("No within-hour plan: the recent history has fewer than 20" in c.value for c in at.caption)
    at.radio[0].set_value("daily").run()
    assert not at.exception
