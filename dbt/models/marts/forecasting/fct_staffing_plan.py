"""Agents needed per hour and entry queue, from the hourly forecast, Erlang C / Erlang A and measured AHT.

Rows with queue_id ``all`` staff the channel as one pooled team (its total forecast); the
per-queue rows staff each entry queue on its own. The pooled figure is lower than the sum of
the queues' (Erlang C rewards scale): the gap is what dedicated queues cost.

Why here and not in a spreadsheet: the plan must move when the forecast or the handle time
moves. AHT is measured from the KPI mart over a look-back window (the queue's own, else its
channel's, else a default); the service-level target, answer time, occupancy cap and
shrinkage are vars planners can override with ``--vars``.
"""

import pandas as pd

from ml.forecasting import clamp_float, clamp_int
from ml.staffing import PLAN_COLUMNS, estimate_patience, intra_hour_patterns, plan_rows


def model(dbt, session):
    dbt.config(materialized="table")
    target = clamp_float(dbt.config.get("service_level_target"), 0.8, 0.01, 0.999)
    answer = clamp_float(dbt.config.get("answer_seconds"), 20.0, 0.0, 86400.0)
    occupancy = clamp_float(dbt.config.get("max_occupancy"), 0.85, 0.05, 1.0)
    shrinkage = clamp_float(dbt.config.get("shrinkage"), 0.3, 0.0, 0.95)
    lookback = clamp_int(dbt.config.get("aht_lookback_days"), 28, 1, 3650)
    default_aht = clamp_float(dbt.config.get("default_aht_seconds"), 300.0, 1.0, 86400.0)

    forecast = dbt.ref("fct_volume_forecast").df()
    hourly = forecast[(forecast["granularity"] == "hourly") & forecast["period_start"].notna()]
    hourly = hourly.sort_values(["channel", "queue_id", "period_start"])

    kpi = dbt.ref("fct_kpi_daily").df()
    kpi = kpi[pd.to_datetime(kpi["kpi_date"]) > pd.to_datetime(kpi["kpi_date"]).max() - pd.Timedelta(days=lookback)]
    kpi = kpi.assign(queue_id=kpi["queue_id"].fillna("unknown"))
    by_queue = kpi.groupby(["channel", "queue_id"])[["total_handle_seconds", "timed_contacts"]].sum()
    by_channel = kpi.groupby("channel")[["total_handle_seconds", "timed_contacts"]].sum()
    aht_by_queue = {k: r.total_handle_seconds / r.timed_contacts
                    for k, r in by_queue.iterrows() if r.timed_contacts > 0}
    aht_by_channel = {k: r.total_handle_seconds / r.timed_contacts
                      for k, r in by_channel.iterrows() if r.timed_contacts > 0}

    # Patience (Erlang A) from the phone calls of the same window: waits of everyone who queued, hang-ups.
    calls = dbt.ref("fct_calls").df()
    calls = calls[calls["started_at"].notna()]
    if len(calls):
        since = pd.to_datetime(calls["started_at"]).max() - pd.Timedelta(days=lookback)
        calls = calls[pd.to_datetime(calls["started_at"]) > since]
    patience_by_queue, patience_by_channel = estimate_patience(
        [("phone", q if isinstance(q, str) else "unknown", w, bool(a))
         for q, w, a in zip(calls["queue_id"], calls["wait_seconds"], calls["is_abandoned"])])

    # Within-hour arrival patterns per channel, from the contacts of the same window (the hours the
    # forecast counts in: fct_conversations.started_hour).
    contacts = dbt.ref("fct_conversations").project("channel, started_at").df()
    contacts = contacts[contacts["started_at"].notna()]
    intra_hour = {}
    if len(contacts):
        started = pd.to_datetime(contacts["started_at"])
        recent = started > started.max() - pd.Timedelta(days=lookback)
        for channel, group in contacts[recent].assign(at=started[recent]).groupby("channel"):
            intra_hour[str(channel)] = intra_hour_patterns(
                list(zip(group["at"].dt.date, group["at"].dt.hour, group["at"].dt.minute)))

    rows = plan_rows(hourly.to_dict("records"), aht_by_queue, aht_by_channel, target, answer, occupancy,
                     shrinkage, default_aht, patience_by_queue, patience_by_channel, intra_hour)
    frame = pd.DataFrame(rows, columns=list(PLAN_COLUMNS))
    for name in ("required_agents", "scheduled_agents", "period_hour", "required_agents_erlang_a",
                 "scheduled_agents_erlang_a", "intra_hour_slot_minutes", "required_agents_intra_hour"):
        frame[name] = frame[name].astype("Int64")
    for name in ("forecast_contacts", "forecast_contacts_upper", "aht_seconds", "traffic_erlangs",
                 "expected_service_level", "probability_of_wait", "occupancy", "average_speed_of_answer_seconds",
                 "service_level_target", "answer_seconds", "max_occupancy", "shrinkage", "patience_seconds",
                 "expected_service_level_erlang_a", "expected_abandonment_erlang_a",
                 "expected_service_level_intra_hour"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Float64")
    for name in ("channel", "queue_id", "series_level", "aht_source", "method", "limited_by", "patience_source"):
        frame[name] = frame[name].astype("string")
    frame["is_peak"] = frame["is_peak"].astype("boolean")
    frame["period_start"] = pd.to_datetime(frame["period_start"]).astype("datetime64[us]")
    frame["period_date"] = pd.to_datetime(frame["period_date"]).dt.date.astype("object")
    return frame
