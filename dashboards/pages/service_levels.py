"""Service levels: how many contacts got their first response and their resolution within target.

Reads marts.fct_conversation_summary, whose SLA columns come from marts.fct_service_levels: each
contact's targets (the `sla_targets` seed), its waits on the wall clock and in its queue's open hours
(the `business_hours` seed, less public holidays), and whether each target was met on the target's own
clock. Attainment is shown on both clocks, overall and by day, queue, team and agent; every count links
to the contacts behind it.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data import query
from dashboards.widgets import (contacts_links, explain_empty_mart, number_formats, page_filters, plain,
                                require_marts)

BREAKDOWNS = {"Day": "started_date", "Queue": "queue_id", "Team": "team_id", "Agent": "agent_id"}

filters = page_filters("Service levels")
require_marts("This snapshot was built before service levels were measured on both clocks; the next build adds "
              "them.", "fct_conversation_summary", "fct_service_levels",
              columns={"fct_conversation_summary": ("first_response_met_wall", "resolution_met_business")})
where, params = filters.where("started_date", "channel", "final_queue_id")
rows = query(f"""
    select conversation_id, started_date, channel, queue_id, team_id, agent_id, is_abandoned, sla_clock,
           first_response_met, resolution_met, first_response_met_wall, first_response_met_business,
           resolution_met_wall, resolution_met_business
    from marts.fct_conversation_summary where {where}""", tuple(params))
if rows.empty:
    explain_empty_mart("fct_conversation_summary",
                       "No conversation has been loaded into this warehouse yet.",
                       "No contacts in this period for the chosen channels and queues. Widen the filters in the "
                       "sidebar.")
    st.stop()
if rows["sla_clock"].isna().all():
    st.info("No SLA target applies to these contacts: add rows for their queues or channels (or a \"*\" row) to the "
            "`sla_targets` seed.", icon=":material/timer_off:")
    st.stop()


def _met(frame: pd.DataFrame, clock: str, what: str) -> pd.Series:
    """Met on ``clock`` ("wall", "business" or "target": the target's own clock); empty where not measurable.

    The mart judges every contact on both clocks by the same rules; this only picks the column.
    """
    return frame[f"{what}_met" if clock == "target" else f"{what}_met_{clock}"].astype("boolean")


def _rate(met: pd.Series) -> float | None:
    measured = met.dropna()
    return float(measured.astype(bool).mean()) if len(measured) else None


first_met, resolution_met = _met(rows, "target", "first_response"), _met(rows, "target", "resolution")
missed_first = int((first_met == False).sum())  # noqa: E712 - pandas' nullable booleans
missed_resolution = int((resolution_met == False).sum())  # noqa: E712
pending = int((rows["resolution_met"].isna() & ~rows["is_abandoned"].astype(bool)).sum())
clocks = ", ".join(f"{n:,} on the {c} clock" for c, n in rows["sla_clock"].value_counts().items())
st.caption(f"{len(rows):,} contacts from {filters.start:%d %b %Y} to {filters.end:%d %b %Y}; targets from the "
           f"`sla_targets` seed ({clocks}), open hours from `business_hours`.")

c1, c2, c3, c4 = st.columns(4)
first_rate, resolution_rate = _rate(first_met), _rate(resolution_met)
c1.metric("First response within target", "n/a" if first_rate is None else f"{first_rate:.1%}",
          help="Share of contacts with a measurable first response (abandoned ones count as missed).")
c2.metric("Resolved within target", "n/a" if resolution_rate is None else f"{resolution_rate:.1%}",
          help="Share of contacts whose resolution is known or already late (open tickets inside target wait).")
c3.metric("Missed first response", f"{missed_first:,}")
c4.metric("Missed resolution", f"{missed_resolution:,}", f"{pending:,} pending", delta_color="off")
contacts_links(("Contacts that missed the first response", {"first_response_met": "no"}),
               ("Contacts that missed the resolution target", {"resolution_met": "no"}))

st.subheader("Wall clock against business hours")
st.caption("The same targets counted both ways: on the wall clock every hour counts; in business hours only the "
           "queue's open hours do, so a contact that arrives after closing is not late for the night. On every "
           "clock an abandoned contact missed its first response, and an open ticket already past its target has "
           "missed its resolution; one still inside it waits.")
both = pd.DataFrame([{"measure": name, "wall clock": _rate(_met(rows, "wall", key)),
                      "business hours": _rate(_met(rows, "business", key)),
                      "target's own clock": _rate(_met(rows, "target", key))}
                     for name, key in (("first response", "first_response"), ("resolution", "resolution"))])
st.dataframe(both, hide_index=True, width="stretch",
             column_config=number_formats("percent", "wall clock", "business hours", "target's own clock"))

st.subheader("Attainment by")
by_label = st.radio("Group by", list(BREAKDOWNS), horizontal=True, label_visibility="collapsed")
by = BREAKDOWNS[by_label]
frame = rows.assign(first_met=first_met.astype(float), resolution_met_f=resolution_met.astype(float),
                    first_met_wall=_met(rows, "wall", "first_response").astype(float),
                    first_met_business=_met(rows, "business", "first_response").astype(float))
table = (frame.groupby(by, dropna=False, as_index=False)
         .agg(contacts=("conversation_id", "count"), first_response=("first_met", "mean"),
              first_response_wall=("first_met_wall", "mean"), first_response_business=("first_met_business", "mean"),
              resolution=("resolution_met_f", "mean")))
if by == "started_date":
    st.plotly_chart(px.line(table.melt(id_vars=["started_date"], value_vars=["first_response_wall",
                                                                             "first_response_business"],
                                       var_name="clock", value_name="within target"),
                            x="started_date", y="within target", color="clock",
                            labels={"started_date": ""}), width="stretch")
else:
    st.plotly_chart(px.bar(plain(table.sort_values("first_response"), by), x="first_response", y=by, orientation="h",
                           labels={"first_response": "first response within target"}), width="stretch")
st.dataframe(table.sort_values(by), hide_index=True, width="stretch",
             column_config=number_formats("percent", "first_response", "first_response_wall",
                                          "first_response_business", "resolution"))
