"""Tickets: what is waiting for whom, what is about to breach its SLA, and is automatic routing better?

Reads marts.fct_tickets (one ticket per contact that needs follow-up, routed automatically) and
marts.fct_ticket_routing_quality (manual vs automatic routing per day and team). "Now" for open
tickets is the end of the data in the snapshot, so the page agrees with the marts.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data import has_table, query, snapshot
from dashboards.widgets import contacts_link, download_button, empty_state, explain_empty_mart, page_filters, plain

# The published case this page is measured against (vendor case study of automatic ticketing).
ARTICLE_HANDLING_BEFORE_MIN = 4.2 * 60
ARTICLE_HANDLING_AFTER_MIN = 18.0
ARTICLE_ERROR_BEFORE = 0.12
ARTICLE_ERROR_AFTER = 0.015
DUE_SOON_HOURS = 24
PRIORITY_COLOURS = {"P1": "#c62828", "P2": "#ef6c00", "P3": "#f9a825", "P4": "#2e7d32"}

filters = page_filters("Tickets")
if snapshot() is None or not has_table("fct_tickets"):
    empty_state()
    st.stop()

where, params = filters.where("started_date", "channel", "queue_id")
tickets = query(f"select * from marts.fct_tickets where {where} order by created_at", tuple(params))
if tickets.empty:
    explain_empty_mart("fct_tickets",
                       "No ticket has been raised in this warehouse: a ticket opens when an agent opens one, a wrap-up "
                       "code says so (ticket_created, escalated), the customer's last message reads upset, or the "
                       "closing says the matter is unresolved, and none of its contacts did.",
                       "No tickets in this period for the chosen channels and queues. Widen the filters in the "
                       "sidebar.",
                       icon=":material/task_alt:")
    st.stop()

as_of = pd.Timestamp(tickets["data_as_of"].max())
open_tickets = tickets[tickets["status"] == "open"]
due_soon = open_tickets[(open_tickets["hours_to_due"] >= 0) & (open_tickets["hours_to_due"] <= DUE_SOON_HOURS)]
overdue = open_tickets[open_tickets["hours_to_due"] < 0]
st.caption(f"Contacts from {filters.start:%d %b %Y} to {filters.end:%d %b %Y}; open tickets timed at the end of "
           f"the data ({as_of:%d %b %Y %H:%M}).")

c1, c2, c3, c4 = st.columns(4)
c1.metric("Tickets", f"{len(tickets):,}")
c2.metric("Open", f"{len(open_tickets):,}")
c3.metric("SLA breached", f"{tickets['sla_breached'].mean():.1%}")
c4.metric(f"Due within {DUE_SOON_HOURS} h", f"{len(due_soon):,}", f"{len(overdue):,} overdue", delta_color="off")
contacts_link("The contacts behind these tickets", ticket="yes")

# ---- queue ---------------------------------------------------------------------------------
st.subheader("Open tickets by team and priority")
if open_tickets.empty:
    st.success("No open tickets: every ticket in this period was settled by a later contact.")
else:
    queue = (open_tickets.groupby(["routed_team", "priority"], as_index=False)
             .agg(tickets=("ticket_id", "count"), oldest_created=("created_at", "min")))
    st.plotly_chart(px.bar(plain(queue, "routed_team"), x="routed_team", y="tickets", color="priority", barmode="stack",
                           category_orders={"priority": list(PRIORITY_COLOURS)},
                           color_discrete_map=PRIORITY_COLOURS, labels={"routed_team": "team"}), width="stretch")

# ---- SLA -----------------------------------------------------------------------------------
st.subheader("SLA")
left, right = st.columns(2)
with left:
    breaches = (tickets.groupby("priority", as_index=False)
                .agg(tickets=("ticket_id", "count"), breached=("sla_breached", "sum"), sla_hours=("sla_hours", "max")))
    breaches["breach_rate"] = breaches["breached"] / breaches["tickets"]
    fig = px.bar(breaches, x="priority", y="breach_rate", color="priority", color_discrete_map=PRIORITY_COLOURS,
                 hover_data=["tickets", "breached", "sla_hours"], labels={"breach_rate": "breached"})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")
with right:
    st.caption(f"Open tickets due within {DUE_SOON_HOURS} h, most urgent first")
    soon = due_soon.sort_values(["hours_to_due", "priority"])[
        ["ticket_id", "priority", "routed_team", "category", "created_at", "sla_due_at", "hours_to_due"]]
    if soon.empty:
        st.info("Nothing is due in the next day.")
    else:
        st.dataframe(soon, hide_index=True, width="stretch")

# ---- routing quality -------------------------------------------------------------------------
st.subheader("Routing quality: manual vs automatic")
quality = query("""
    select started_date, team_id, handled_contacts, manual_misrouted_contacts, auto_misrouted_contacts,
           manual_minutes_to_route_misrouted, auto_minutes_to_route, agent_tickets, automatic_tickets,
           agent_minutes_to_ticket, automatic_minutes_to_ticket
    from marts.fct_ticket_routing_quality where started_date between ? and ? order by started_date, team_id""",
                (filters.start, filters.end)) if has_table("fct_ticket_routing_quality") else pd.DataFrame()


def _weighted(df: pd.DataFrame, value: str, weight: str) -> float | None:
    part = df[df[value].notna() & (df[weight] > 0)]
    return None if part.empty else float((part[value] * part[weight]).sum() / part[weight].sum())


if quality.empty:
    st.info("Routing quality appears after the next build.")
    manual_rate = auto_rate = manual_route_min = auto_route_min = agent_ticket_min = auto_ticket_min = None
else:
    handled = quality["handled_contacts"].sum()
    manual_rate = quality["manual_misrouted_contacts"].sum() / handled if handled else None
    auto_rate = quality["auto_misrouted_contacts"].sum() / handled if handled else None
    manual_route_min = _weighted(quality, "manual_minutes_to_route_misrouted", "manual_misrouted_contacts")
    auto_route_min = _weighted(quality, "auto_minutes_to_route", "handled_contacts")
    agent_ticket_min = _weighted(quality, "agent_minutes_to_ticket", "agent_tickets")
    auto_ticket_min = _weighted(quality, "automatic_minutes_to_ticket", "automatic_tickets")
    st.caption("Period filter only (routing is measured per handling team). Manual misroute = the contact ended "
               "with another team than it entered (a transfer); automatic misroute = the automatic route differs "
               "from the team that handled it.")
    daily = quality.groupby("started_date", as_index=False)[
        ["handled_contacts", "manual_misrouted_contacts", "auto_misrouted_contacts"]].sum()
    daily["manual"] = daily["manual_misrouted_contacts"] / daily["handled_contacts"]
    daily["automatic"] = daily["auto_misrouted_contacts"] / daily["handled_contacts"]
    fig = px.line(daily.melt(id_vars="started_date", value_vars=["manual", "automatic"], var_name="routing",
                             value_name="misroute_rate"),
                  x="started_date", y="misroute_rate", color="routing", labels={"started_date": ""})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")
    by_team = quality.groupby("team_id", as_index=False)[
        ["handled_contacts", "manual_misrouted_contacts", "auto_misrouted_contacts"]].sum()
    by_team["manual_misroute_rate"] = (by_team["manual_misrouted_contacts"] / by_team["handled_contacts"]).round(3)
    by_team["auto_misroute_rate"] = (by_team["auto_misrouted_contacts"] / by_team["handled_contacts"]).round(3)
    st.dataframe(by_team, hide_index=True, width="stretch")

# ---- the article's bar -------------------------------------------------------------------------
st.subheader("Against the published case")


def _fmt_minutes(value: float | None) -> str:
    if value is None or value != value:
        return "–"
    return f"{value / 60:.1f} h" if value >= 90 else f"{value:.0f} min"


def _fmt_rate(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.1%}"


bar = pd.DataFrame([
    {"measure": "Handling time to a routed ticket", "article before": _fmt_minutes(ARTICLE_HANDLING_BEFORE_MIN),
     "article after": _fmt_minutes(ARTICLE_HANDLING_AFTER_MIN),
     "ours, manual": f"{_fmt_minutes(manual_route_min)} to correct a misroute",
     "ours, automatic": f"{_fmt_minutes(auto_route_min)} to route (first message)"},
    {"measure": "Time from contact to ticket", "article before": _fmt_minutes(ARTICLE_HANDLING_BEFORE_MIN),
     "article after": _fmt_minutes(ARTICLE_HANDLING_AFTER_MIN),
     "ours, manual": f"{_fmt_minutes(agent_ticket_min)} (agent's ticket turn)",
     "ours, automatic": f"{_fmt_minutes(auto_ticket_min)} (at contact end)"},
    {"measure": "Routing error rate", "article before": _fmt_rate(ARTICLE_ERROR_BEFORE),
     "article after": _fmt_rate(ARTICLE_ERROR_AFTER),
     "ours, manual": f"{_fmt_rate(manual_rate)} (transfers: a floor)",
     "ours, automatic": f"{_fmt_rate(auto_rate)} (vs handling team)"},
])
st.dataframe(bar, hide_index=True, width="stretch")
if auto_rate is not None and manual_rate is not None:
    rates = pd.DataFrame({
        "source": ["article", "article", "ours", "ours"], "routing": ["manual", "automatic", "manual", "automatic"],
        "error_rate": [ARTICLE_ERROR_BEFORE, ARTICLE_ERROR_AFTER, manual_rate, auto_rate]})
    fig = px.bar(rates, x="routing", y="error_rate", color="source", barmode="group",
                 labels={"error_rate": "misrouted"})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")
st.caption("Automatic time to ticket counts from the contact start to its end, when the whole conversation can be "
           "read; e-mail threads run for days, so compare channels in the detail below.")

# ---- detail --------------------------------------------------------------------------------
st.subheader("Tickets")
by_channel = (tickets.groupby(["channel", "created_by"], as_index=False)
              .agg(tickets=("ticket_id", "count"), median_minutes_to_ticket=("minutes_contact_to_ticket", "median")))
st.dataframe(by_channel, hide_index=True, width="stretch")
shown = tickets[["ticket_id", "status", "priority", "routed_team", "route_source", "entry_team", "final_team",
                 "category", "intent", "channel", "language", "created_at", "sla_due_at", "sla_breached",
                 "resolved_at", "ticket_reason"]]
st.dataframe(shown, hide_index=True, width="stretch")
download_button(tickets, "tickets.csv", "Download the tickets (CSV)")
