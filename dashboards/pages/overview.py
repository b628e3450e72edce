"""Overview: how is the contact centre doing in the chosen period, and compared with the one before?"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data import query
from dashboards.widgets import contacts_links, download_button, format_delta, page_filters, plain

filters = page_filters("Overview")

KPI_SQL = """
    select
        sum(contacts) as contacts,
        sum(handled_contacts) as handled,
        sum(total_handle_seconds) / nullif(sum(timed_contacts), 0) as aht,
        sum(fcr_contacts) / nullif(sum(fcr_eligible_contacts), 0) as fcr,
        sum(transferred_contacts) / nullif(sum(handled_contacts), 0) as transfer_rate,
        sum(abandoned_contacts) / nullif(sum(contacts), 0) as abandonment,
        sum(total_cost) / nullif(sum(contacts), 0) as cost_per_contact,
        sum(csat_sum) / nullif(sum(csat_responses), 0) as csat,
        100.0 * (sum(nps_promoters) - sum(nps_detractors)) / nullif(sum(nps_responses), 0) as nps,
        coalesce(sum(timed_contacts), 0) as timed,
        coalesce(sum(fcr_eligible_contacts), 0) as fcr_eligible,
        coalesce(sum(csat_responses), 0) as csat_responses,
        coalesce(sum(nps_responses), 0) as nps_responses
    from marts.fct_kpi_daily
    where {where}
"""

where, params = filters.where("kpi_date")
now = query(KPI_SQL.format(where=where), tuple(params))
prev_where, prev_params = filters.previous().where("kpi_date")
before = query(KPI_SQL.format(where=prev_where), tuple(prev_params))

if now.empty or pd.isna(now.iloc[0]["contacts"]) or now.iloc[0]["contacts"] == 0:
    st.info("No contacts in this period for the chosen channels and queues. Widen the filters in the sidebar.")
    st.stop()

# Compare only with a previous period the warehouse fully covers; a half-empty one misleads.
comparable = filters.previous().start >= st.session_state.get("data_start", filters.start)
cur, old = now.iloc[0], (before.iloc[0] if comparable and not before.empty else None)
days = (filters.end - filters.start).days + 1
st.caption(f"{filters.start:%d %b %Y} – {filters.end:%d %b %Y}, "
           + (f"compared with the {days} days before" if comparable else "no complete earlier period to compare with"))
tiles = [
    ("Contacts", "contacts", "{:,.0f}", False),
    ("Avg handle time", "aht", "{:,.0f} s", True),
    ("First-contact resolution", "fcr", "{:.1%}", False),
    ("Transfer rate", "transfer_rate", "{:.1%}", True),
    ("Abandonment", "abandonment", "{:.1%}", True),
    ("Cost per contact", "cost_per_contact", "{:,.2f}", True),
    ("CSAT (1-5)", "csat", "{:.2f}", False),
    ("NPS", "nps", "{:+.0f}", False),
]
# Why a tile shows no figure, in words: a missing measurement is never shown as 0 or left unexplained.
WHY_MISSING = {
    "aht": "no handled contact in the period has a handle time in its export",
    "fcr": ("no contact is eligible: FCR needs a wrap-up code (disposition) and the whole repeat window "
            "after the contact inside the data"),
    "transfer_rate": "no handled contact in the period",
    "cost_per_contact": "the channel_costs seed has no cost for these channels",
    "csat": "no survey answer in the period",
    "nps": "no survey answer with an NPS score in the period",
}
cols = st.columns(4)
missing = []
for i, (label, key, fmt, lower_is_better) in enumerate(tiles):
    value = cur[key]
    absent = value is None or value != value
    shown = "–" if absent else fmt.format(value)
    if absent:
        missing.append(f"{label}: {WHY_MISSING.get(key, 'not measurable')}")
    delta = format_delta(value, None if old is None else old[key], fmt)
    cols[i % 4].metric(label, shown, delta, delta_color="inverse" if lower_is_better else "normal",
                       help=WHY_MISSING.get(key) if absent else None)
if missing:
    st.caption("Not measurable in this period — " + "; ".join(missing) + ".")
contacts_links(("These contacts", {}), ("Not resolved first time", {"fcr": "no"}),
               ("Transferred", {"transferred": "yes"}), ("Abandoned", {"abandoned": "yes"}))

daily = query(f"""
    select kpi_date, channel, sum(contacts) as contacts,
           sum(total_handle_seconds) / nullif(sum(timed_contacts), 0) as aht,
           sum(fcr_contacts) / nullif(sum(fcr_eligible_contacts), 0) as fcr
    from marts.fct_kpi_daily where {where}
    group by all order by kpi_date, channel""", tuple(params))

st.subheader("Contact volume")
st.plotly_chart(px.area(daily, x="kpi_date", y="contacts", color="channel",
                        labels={"kpi_date": "", "contacts": "contacts"}), width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Average handle time")
    st.plotly_chart(px.line(daily, x="kpi_date", y="aht", color="channel",
                            labels={"kpi_date": "", "aht": "seconds"}), width="stretch")
with right:
    st.subheader("First-contact resolution")
    fig = px.line(daily, x="kpi_date", y="fcr", color="channel", labels={"kpi_date": "", "fcr": "FCR"})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")

st.subheader("By queue")
by_queue = query(f"""
    select queue_id as queue, any_value(team_id) as team, sum(contacts) as contacts,
           round(sum(total_handle_seconds) / nullif(sum(timed_contacts), 0)) as aht_seconds,
           round(sum(fcr_contacts) / nullif(sum(fcr_eligible_contacts), 0), 3) as fcr_rate,
           round(sum(transferred_contacts) / nullif(sum(handled_contacts), 0), 3) as transfer_rate,
           round(sum(abandoned_contacts) / nullif(sum(contacts), 0), 3) as abandonment_rate,
           round(sum(total_cost) / nullif(sum(contacts), 0), 2) as cost_per_contact,
           round(sum(csat_sum) / nullif(sum(csat_responses), 0), 2) as csat
    from marts.fct_kpi_daily where {where}
    group by queue_id order by contacts desc""", tuple(params))
st.plotly_chart(px.bar(plain(by_queue, "queue"), x="queue", y="contacts", color="fcr_rate", color_continuous_scale="RdYlGn",
                       labels={"queue": "", "fcr_rate": "FCR"}), width="stretch")
st.dataframe(by_queue, hide_index=True, width="stretch")

detail = query(f"select * from marts.fct_kpi_daily where {where} order by kpi_date, channel, queue_id", tuple(params))
download_button(detail, "kpi_daily.csv", "Download the daily KPIs (CSV)")
