"""Forecast and staffing: how many contacts are coming, how many agents do they need, and how far to trust it."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards.data import has_columns, has_table, query
from dashboards.widgets import (contacts_link, download_button, escape_markdown as esc, page_filters,
                                require_marts)
from ml.forecasting import ARTICLE_PEAK_RECALL

filters = page_filters("Forecast and staffing")
require_marts("This snapshot has no forecasts yet: the forecasting models (fct_volume_forecast, fct_staffing_plan, "
              "fct_forecast_backtest) run with the next build.", "fct_volume_forecast")

series = query("""
    select distinct channel, queue_id from marts.fct_volume_forecast
    where period_start is not null order by channel, queue_id""")
if series.empty:
    st.info("Every series was too short to forecast; see the reasons below once more history has arrived.")
    st.dataframe(query("select distinct series_key, status_reason from marts.fct_volume_forecast"), hide_index=True)
    st.stop()

# The sidebar's channel and queue filters pick the defaults; the period filter does not apply
# (a forecast looks past the last day of data).
channels = sorted(series["channel"].unique())
default_channel = next((c for c in filters.channels if c in channels), channels[0])
left, mid, right = st.columns(3)
channel = left.selectbox("Channel", channels, index=channels.index(default_channel))
queues = ["all"] + sorted(q for q in series.loc[series["channel"] == channel, "queue_id"] if q != "all")
default_queue = next((q for q in filters.queues if q in queues), "all")
queue = mid.selectbox("Queue", queues, index=queues.index(default_queue),
                      format_func=lambda q: "All queues" if q == "all" else q)
granularity = right.radio("Granularity", ["hourly", "daily"], horizontal=True)

forecast = query("""
    select period_start, yhat, yhat_lower, yhat_upper, is_peak, model, status, horizon_days, interval_width
    from marts.fct_volume_forecast
    where channel = ? and queue_id = ? and granularity = ? and period_start is not null
    order by period_start""", (channel, queue, granularity))
skipped = query("""
    select series_key, status, status_reason from marts.fct_volume_forecast
    where status <> 'ok' and channel = ? group by all order by series_key""", (channel,))

if forecast.empty:
    st.warning(f"No {granularity} forecast for {esc(channel)} / {esc(queue)}: its history is too short.")
else:
    start = forecast["period_start"].min()
    horizon = int(forecast["horizon_days"].iloc[0])
    bucket = "date_trunc('day', period_start)" if granularity == "daily" else "period_start"
    queue_clause = "" if queue == "all" else "and queue_id = ?"
    params = (channel, start - pd.Timedelta(days=2 * horizon), start) + (() if queue == "all" else (queue,))
    actual = query(f"""
        select {bucket} as period_start, sum(offered_contacts) as contacts
        from marts.fct_offered_contacts_hourly
        where channel = ? and period_start >= ? and period_start < ? {queue_clause}
        group by 1 order by 1""", params)
    if not actual.empty:  # hours without contacts have no row: show them as zero
        freq = "D" if granularity == "daily" else "h"
        step = pd.Timedelta(days=1) if granularity == "daily" else pd.Timedelta(hours=1)
        index = pd.date_range(actual["period_start"].min(), start - step, freq=freq)
        actual = (actual.set_index("period_start")["contacts"].reindex(index, fill_value=0)
                  .rename_axis("period_start").reset_index())

    st.subheader(f"Offered contacts: the last {2 * horizon} days and the next {horizon}")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=forecast["period_start"], y=forecast["yhat_upper"], line={"width": 0},
                             showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=forecast["period_start"], y=forecast["yhat_lower"], line={"width": 0},
                             fill="tonexty", fillcolor="rgba(46,125,50,0.18)",
                             name=f"{forecast['interval_width'].iloc[0]:.0%} interval"))
    if not actual.empty:
        fig.add_trace(go.Scatter(x=actual["period_start"], y=actual["contacts"], name="actual",
                                 line={"color": "#455a64"}))
    fig.add_trace(go.Scatter(x=forecast["period_start"], y=forecast["yhat"], name="forecast",
                             line={"color": "#2e7d32"}))
    peaks = forecast[forecast["is_peak"].fillna(False).astype(bool)]
    fig.add_trace(go.Scatter(x=peaks["period_start"], y=peaks["yhat"], mode="markers", name="forecast peak",
                             marker={"color": "#c62828", "size": 8, "symbol": "triangle-up"}))
    fig.update_layout(yaxis_title="contacts", xaxis_title="", legend={"orientation": "h"}, height=420)
    st.plotly_chart(fig, width="stretch")
    if not actual.empty and start == start.normalize():
        # Forecasts start at midnight after the last day of data, so the history is whole days.
        first_day, last_day = (start - pd.Timedelta(days=2 * horizon)).date(), (start - pd.Timedelta(days=1)).date()
        contacts_link(f"The {int(actual['contacts'].sum()):,} contacts of the actual line",
                      since=first_day.isoformat(), until=last_day.isoformat(), channel=channel, queue=queue)
    st.caption(f"Model: {', '.join(sorted(forecast['model'].unique()))}, the winner of this series' backtest "
               "(below). Peaks: the forecast's own top decile of periods in the horizon. Closed hours and days (no "
               "contact in recent weeks) are forecast as 0. Only Prophet uses the `holidays` seed; a holiday the "
               "history has never seen has no learnt effect yet.")
if not skipped.empty:
    with st.expander(f"{len(skipped)} {channel} series skipped or forecast by the fallback model"):
        st.dataframe(skipped, hide_index=True, width="stretch")

def show_plan_check(plan: pd.DataFrame, channel: str, queue: str) -> None:
    """Erlang A beside Erlang C, and the first forecast day replayed against Erlang A's roster."""
    st.markdown("**Callers who hang up: Erlang A, and the plan replayed**")
    patience = plan["patience_seconds"].dropna()
    if patience.empty:
        st.caption("No patience estimate for this channel: fewer than 20 callers hung up in the AHT window, so "
                   "Erlang A equals Erlang C here (chat and e-mail record no hang-up times).")
    replay = query("""
        select period_start, expected_service_level_erlang_a, simulated_service_level,
               expected_abandonment_erlang_a, simulated_abandonment, simulated_contacts, replications
        from marts.fct_staffing_validation where channel = ? and queue_id = ? order by period_start""",
                   (channel, queue)) if has_table("fct_staffing_validation") else pd.DataFrame()
    tiles = st.columns(4)
    saved = int(plan["required_agents"].sum() - plan["required_agents_erlang_a"].sum())
    tiles[0].metric("Mean patience", f"{patience.iloc[0]:,.0f} s" if not patience.empty else "none measured",
                    help=f"from {plan['patience_source'].iloc[0]} hang-ups" if not patience.empty else None)
    tiles[1].metric("Agent-hours Erlang C over-staffs", f"{saved:,}")
    busy = replay[replay["simulated_contacts"] > 0] if not replay.empty else replay
    if busy.empty:
        tiles[2].metric("Planned service level (day 1)", "n/a")
        tiles[3].metric("Replayed service level", "n/a")
        st.caption("No replay of the first forecast day in this snapshot (no queued contacts forecast for it).")
        return
    weights = busy["simulated_contacts"] / busy["replications"]
    planned = float((busy["expected_service_level_erlang_a"] * weights).sum() / weights.sum())
    replayed = float((busy["simulated_service_level"] * weights).sum() / weights.sum())
    tiles[2].metric("Planned service level (day 1)", f"{planned:.1%}")
    tiles[3].metric("Replayed service level", f"{replayed:.1%}", delta=f"{(replayed - planned) * 100:+.1f} pts")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=busy["period_start"], y=busy["expected_service_level_erlang_a"], name="planned (Erlang A)",
                             line={"color": "#e65100", "shape": "hv"}))
    fig.add_trace(go.Scatter(x=busy["period_start"], y=busy["simulated_service_level"], name="replayed",
                             mode="markers", marker={"color": "#0d47a1"}))
    fig.update_layout(yaxis_title="answered in time", yaxis_tickformat=".0%", height=300, legend={"orientation": "h"})
    st.plotly_chart(fig, width="stretch")
    st.caption(f"The first forecast day replayed {int(busy['replications'].iloc[0])} times (Poisson arrivals at the "
               "forecast, exponential handle times and patience, one queue carried across hours, agents finishing "
               "their call when the roster drops). Thin hours are noisy; the day's figure weighs hours by contacts.")


st.subheader("Agents needed per hour")
if not has_table("fct_staffing_plan"):
    st.info("No staffing plan in this snapshot yet.")
else:
    # A snapshot published before the within-hour plan existed has no such columns: read them as empty.
    planned_within = has_columns("fct_staffing_plan", "required_agents_intra_hour", "intra_hour_slot_minutes")
    inner = ("required_agents_intra_hour, intra_hour_slot_minutes" if planned_within
             else "null::integer as required_agents_intra_hour, null::integer as intra_hour_slot_minutes")
    plan = query(f"""
        select period_start, forecast_contacts, required_agents, scheduled_agents, method, aht_seconds,
               service_level_target, answer_seconds, shrinkage, required_agents_erlang_a, patience_seconds,
               patience_source, expected_abandonment_erlang_a, {inner}
        from marts.fct_staffing_plan
        where channel = ? and queue_id = ?
        order by period_start""", (channel, queue))
    dedicated = query("""
        select sum(scheduled_agents) as agent_hours from marts.fct_staffing_plan
        where channel = ? and series_level = 'queue'""", (channel,))
    if plan.empty:
        st.info("No staffing rows for this selection.")
    else:
        first = plan.iloc[0]
        tiles = st.columns(4)
        tiles[0].metric("Busiest hour", f"{int(plan['scheduled_agents'].max()):,} agents")
        tiles[1].metric("Agent-hours to roster", f"{int(plan['scheduled_agents'].sum()):,}")
        tiles[2].metric("Average handle time", f"{plan['aht_seconds'].mean():,.0f} s")
        target = (f"{first['service_level_target']:.0%} in {first['answer_seconds']:.0f} s"
                  if first["method"] == "erlang_c" else "workload (no queue)")
        tiles[3].metric("Service target", target)
        fig = go.Figure()
        fig.add_trace(go.Bar(x=plan["period_start"], y=plan["scheduled_agents"], name="scheduled (with shrinkage)",
                             marker_color="#90caf9"))
        fig.add_trace(go.Scatter(x=plan["period_start"], y=plan["required_agents"], name="on the phones (Erlang C)",
                                 line={"color": "#0d47a1", "shape": "hv"}))
        if first["method"] == "erlang_c":
            fig.add_trace(go.Scatter(x=plan["period_start"], y=plan["required_agents_erlang_a"],
                                     name="on the phones (Erlang A: callers hang up)",
                                     line={"color": "#e65100", "shape": "hv", "dash": "dot"}))
        within = plan["required_agents_intra_hour"].notna().any() if first["method"] == "erlang_c" else False
        if within:
            fig.add_trace(go.Scatter(x=plan["period_start"], y=plan["required_agents_intra_hour"],
                                     name="on the phones (Erlang A on the within-hour arrival patterns)",
                                     line={"color": "#2e7d32", "shape": "hv", "dash": "dash"}))
        fig.update_layout(yaxis_title="agents", xaxis_title="", legend={"orientation": "h"}, height=360,
                          bargap=0)
        st.plotly_chart(fig, width="stretch")
        note = ""
        if queue == "all" and not dedicated.empty and not pd.isna(dedicated.iloc[0]["agent_hours"]):
            note = (f" All queues = the channel staffed as one pooled team; staffing every queue on its own "
                    f"would take {int(dedicated.iloc[0]['agent_hours']):,} agent-hours.")
        if within:
            width = int(plan["intra_hour_slot_minutes"].dropna().iloc[0])
            note += (f" The within-hour line holds the target when each hour's contacts arrive as they did, "
                     f"{width} minutes at a time, on each of the last days (hours with too little history "
                     "keep Erlang A's figure).")
        elif first["method"] == "erlang_c" and not planned_within:
            note += " No within-hour plan in this snapshot: it was published before the plan had one (the next build adds it)."
        elif first["method"] == "erlang_c":
            note += (" No within-hour plan: the recent history has fewer than 20 contacts per 5-, 15- or 30-minute "
                     "slot of an hour (or under 5 days of it), so its within-hour swings are chance that Erlang A "
                     "already counts.")
        st.caption("Erlang C for phone and chat (email: handling workload at the occupancy cap), shrinkage "
                   f"{first['shrinkage']:.0%}, AHT measured per queue over the last weeks." + note)
        detail = query("select * from marts.fct_staffing_plan where channel = ? and queue_id = ? "
                       "order by period_start", (channel, queue))
        download_button(detail, f"staffing_plan_{channel}_{queue}.csv", "Download the staffing plan (CSV)")
        if first["method"] == "erlang_c":
            show_plan_check(plan, channel, queue)

st.subheader("Which model, and how far to trust it: rolling-origin backtest")
if not has_table("fct_forecast_backtest"):
    st.info("No backtest in this snapshot yet.")
else:
    models = query("""
        select model, any_value(chosen_model) as chosen_model, any_value(selection_reason) as selection_reason,
               count(*) filter (where status = 'ok') as folds, count(*) filter (where status = 'failed') as failed,
               avg(mape) as mape, avg(smape) as smape, avg(rmse) as rmse, avg(coverage) as coverage,
               avg(raw_coverage) as raw_coverage, avg(peak_recall) as peak_recall, avg(seconds) as seconds
        from marts.fct_forecast_backtest
        where channel = ? and queue_id = ? and granularity = ? and model is not null
        group by model order by avg(rmse) nulls last""", (channel, queue, granularity))
    overall = query("""
        select avg(peak_recall) filter (where is_chosen) as ours,
               avg(peak_recall) filter (where model = 'seasonal_naive') as naive,
               count(distinct series_key) as series
        from marts.fct_forecast_backtest
        where series_level = 'channel' and granularity = 'hourly' and status = 'ok'""")
    tiles = st.columns(3)
    ours = overall.iloc[0]["ours"] if not overall.empty else None
    naive = overall.iloc[0]["naive"] if not overall.empty else None
    tiles[0].metric("Peak recall claimed by the article", f"{ARTICLE_PEAK_RECALL:.0%}")
    tiles[1].metric("Our peak recall (chosen models, hourly)", "–" if ours is None or pd.isna(ours) else f"{ours:.0%}",
                    None if ours is None or pd.isna(ours) else f"{(ours - ARTICLE_PEAK_RECALL) * 100:+.0f} pp")
    tiles[2].metric("Seasonal naive, same folds", "–" if naive is None or pd.isna(naive) else f"{naive:.0%}")
    if models.empty:
        st.info(f"No backtest for {esc(channel)} / {esc(queue)} ({granularity}): its history is too short.")
    else:
        chosen = models["chosen_model"].iloc[0]
        st.markdown(f"**{esc(channel)} / {esc('all queues' if queue == 'all' else queue)}, {granularity}: "
                    f"`{esc(chosen)}` publishes** ({esc(models['selection_reason'].iloc[0])}).")
        shown = models.drop(columns=["chosen_model", "selection_reason"])
        shown.insert(0, "chosen", shown["model"].eq(chosen).map({True: "✓", False: ""}))
        for col in ("mape", "smape", "coverage", "raw_coverage", "peak_recall"):
            shown[col] = shown[col].round(3)
        shown["rmse"] = shown["rmse"].round(2)
        shown["seconds"] = shown["seconds"].round(2)
        st.dataframe(shown, hide_index=True, width="stretch")
    st.caption("Each fold fits every model on the history before its origin and scores the next days over open "
               "periods; the lowest mean RMSE wins the series (sMAPE would reward forecasting 0 in every quiet "
               "hour). Coverage: share of actuals inside the 80% interval once calibrated on the other folds; raw: "
               "the model's own interval. Peak recall: of the periods in the real top decile, the share the "
               "forecast also put in its own top decile (tiles: channel totals, hourly, every fold).")
    winners = query("""
        select granularity, series_level, chosen_model, count(distinct series_key) as series
        from marts.fct_forecast_backtest where channel = ?
        group by all order by granularity, series_level, series desc""", (channel,))
    if not winners.empty:
        with st.expander(f"Winning model per {channel} series"):
            st.dataframe(winners, hide_index=True, width="stretch")
    folds = query("select * from marts.fct_forecast_backtest where channel = ? order by series_key, fold, model",
                  (channel,))
    download_button(folds, f"forecast_backtest_{channel}.csv", "Download the backtest folds (CSV)")

if not forecast.empty:
    download_button(forecast.assign(channel=channel, queue_id=queue, granularity=granularity),
                    f"forecast_{channel}_{queue}_{granularity}.csv", "Download this forecast (CSV)")
