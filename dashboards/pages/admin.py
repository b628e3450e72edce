"""Admin: the locale in force and the audit log (sign-ins, failed and throttled sign-ins, exports, role
changes), for admins only."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards import audit, data
from dashboards.access import has_role
from dashboards.widgets import download_button
from service_insight.settings import get_settings

st.title("Admin")
if not has_role(("admin",)):
    st.info("The audit log is visible to admins.", icon=":material/lock:")
    st.stop()

st.subheader("Locale")
for line in get_settings().locale_lines():
    st.markdown(line)
st.subheader("Audit log")
events = pd.DataFrame(audit.read_events())
st.caption(f"Audit log: `{audit.audit_path()}` (append-only; one JSON line per event, times in UTC). "
           f"After {audit.FREE_FAILURES} failed sign-ins a user name waits 2, 4, 8… seconds "
           f"(at most {audit.MAX_WAIT_SECONDS // 60} minutes) before the next attempt is checked.")
counted = events["event"].value_counts() if not events.empty else pd.Series(dtype=int)
for column, (label, kinds) in zip(st.columns(4), (("Sign-ins", ["sign_in"]),
                                                  ("Failed or refused sign-ins", ["sign_in_failed", "sign_in_throttled"]),
                                                  ("Exports", ["export"]), ("Role changes", ["role_change"]))):
    column.metric(label, f"{int(sum(counted.get(k, 0) for k in kinds)):,}")
if data.has_table("fct_audit_events"):
    copied = data.query("select count(*) as n, count(*) filter (where unreadable) as unreadable, "
                        "max(loaded_at) as last_copy from marts.fct_audit_events")
    n, bad, last_copy = int(copied.iloc[0]["n"]), int(copied.iloc[0]["unreadable"]), copied.iloc[0]["last_copy"]
    when = f", last copied {pd.Timestamp(last_copy):%Y-%m-%d %H:%M} UTC" if n else ""
    st.caption(f"Warehouse copy `marts.fct_audit_events`: {n:,} event(s) as of the last build{when}"
               f"{f', {bad} unreadable line(s)' if bad else ''}; {max(0, len(events) - n):,} newer in the log. "
               "A line edited after it was copied keeps its first copy there and is reported by the build.")
else:
    st.caption("No warehouse copy of the audit log yet: the next build copies it into `marts.fct_audit_events`.")
if events.empty:
    st.info("No event recorded yet: sign-ins, exports and role changes appear here as they happen.")
    st.stop()
events["at"] = pd.to_datetime(events["at"], utc=True, format="ISO8601")
counts = events.groupby([events["at"].dt.date.rename("day"), "event"]).size().rename("events").reset_index()
st.plotly_chart(px.bar(counts, x="day", y="events", color="event"), width="stretch")
kinds = sorted(events["event"].unique().tolist())
picked = st.multiselect("Events", kinds, placeholder="All events")
user = st.text_input("User name contains")
shown = events[events["event"].isin(picked)] if picked else events
if user:
    shown = shown[shown["user"].astype(str).str.contains(user, case=False, regex=False)]
shown = shown.sort_values("at", ascending=False)
st.dataframe(shown, hide_index=True, width="stretch")
download_button(shown, "audit_log.csv", "Download the audit log (CSV)")
