"""Conversations: the contacts behind every figure, one row each, down to the transcript and its readings.

Reads marts.fct_conversation_summary (one row per conversation with every metric and reading). The
sidebar's period, channels and queues apply, and so do this page's own filters, which other pages
and bookmarks set through the address (``?intent=refund&fcr=no``): a figure elsewhere links here
with the same filters, and the tiles count exactly the rows listed. The list downloads as CSV or
Parquet, with the masked first message only for the roles that may read conversation text (the
same rule as ``service-insight export conversations``); choosing a row opens its transcript.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

import pandas as pd
import streamlit as st

from dashboards import audit
from dashboards.access import can_see_text, current_user
from dashboards.data import query
from dashboards.transcript import render_transcript
from dashboards.widgets import escape_markdown, explain_empty_mart, number_formats, page_filters, require_marts

SHOWN_ROWS = 2000  # the table lists this many; the tiles and the downloads cover every matching row
LIST_COLUMNS = ["conversation_id", "started_at_local", "channel", "queue_id", "agent_id", "intent_of_record",
                "emotion_path", "quality_score", "failed_dimensions", "ticket_id", "csat",
                "is_first_contact_resolution", "handle_seconds", "language"]
TEXT_COLUMNS = ("first_customer_message",)
# Address parameters -> (column, how the value compares): what a drill-down link from another page may set.
LINK_FILTERS = {"intent": ("intent_of_record", "="), "agent": ("agent_id", "="), "team": ("team_id", "="),
                "emotion": ("last_customer_emotion", "="), "language": ("language", "="),
                "failed": ("failed_dimensions", "contains"), "product": ("mentioned_products", "contains")}
YES_NO_FILTERS = {"fcr": "is_first_contact_resolution", "ticket": "ticket_count > 0", "abandoned": "is_abandoned",
                  "transferred": "is_transferred", "first_response_met": "first_response_met",
                  "resolution_met": "resolution_met", "alert": "has_emotion_alert",
                  "escalated": "emotion_alert_escalated", "escalate": "needs_escalation"}

filters = page_filters("Conversations")
require_marts("This snapshot was built before the conversation summary existed; the next build adds it.",
              "fct_conversation_summary")
if st.query_params.get("product"):
    require_marts("This snapshot was built before conversations listed the products they name; the next build "
                  "adds them.", columns={"fct_conversation_summary": ("mentioned_products",)})

link = st.query_params
applied: list[str] = []
# A figure with a scope of its own (the Forecast page's history ignores the sidebar's period) sets it in the
# address: since/until replace the sidebar's period, channel=<channel>|all its channels, queue=<entry queue>|all
# its queues.
scope = {}
for key in ("since", "until"):
    if link.get(key):
        try:
            scope[key] = date.fromisoformat(link[key])
        except ValueError:
            applied.append(f"{key} ignored (not a YYYY-MM-DD date)")
if scope:
    filters = replace(filters, start=scope.get("since", filters.start), end=scope.get("until", filters.end))
    applied.append(f"period = {filters.start:%d %b %Y} to {filters.end:%d %b %Y}")
if link.get("channel") == "all":
    filters = replace(filters, channels=())
    applied.append("every channel")
elif link.get("channel"):
    filters = replace(filters, channels=(link["channel"],))
    applied.append(f"channel = {link['channel']}")
entry_queue = link.get("queue")
if entry_queue:
    filters = replace(filters, queues=())
# The queue a contact counts under is the one it ended in, as in the KPI marts the Overview reads; a link
# from the forecast names the queue it entered (the demand's queue).
where, params = filters.where("started_date", "channel", "final_queue_id")
if entry_queue and entry_queue != "all":
    where += " and coalesce(queue_id, 'unknown') = ?"
    params.append(entry_queue)
    applied.append(f"entry queue = {entry_queue}")
elif entry_queue:
    applied.append("every queue")
for key, (column, how) in LINK_FILTERS.items():
    value = link.get(key)
    if value:
        where += (f" and {column} = ?" if how == "=" else  # one of a comma-separated list, exactly
                  f" and list_contains(string_split(coalesce({column}, ''), ', '), ?)")
        params.append(value)
        applied.append(f"{key} = {value}")
for key, condition in YES_NO_FILTERS.items():
    value = (link.get(key) or "").lower()
    if value in ("yes", "no"):
        where += f" and ({condition}) is {'true' if value == 'yes' else 'false'}"  # unknown is neither
        applied.append(f"{key} = {value}")
# The Value page's offers: contacts with a cross-sell offer that passes the same bars the page set.
if (link.get("offer") or "").lower() == "yes":
    offer_where, offer_params = ["true"], []
    for key, column in (("min_lift", "lift"), ("min_confidence", "confidence")):
        try:
            offer_params.append(float(link.get(key, "")))
            offer_where.append(f"{column} >= ?")
        except ValueError:
            pass
    kinds = [k for k in (link.get("baskets") or "").split(",") if k]
    if kinds:
        offer_where.append(f"basket_kind in ({', '.join('?' for _ in kinds)})")
        offer_params.extend(kinds)
    if (link.get("open") or "").lower() == "yes":
        offer_where.append("is_open")
    where += (" and conversation_id in (select conversation_id from marts.fct_cross_sell_opportunities where "
              + " and ".join(offer_where) + ")")
    params.extend(offer_params)
    applied.append("with a cross-sell offer" + "".join(
        f", {k} {link[k]}" for k in ("min_lift", "min_confidence", "baskets", "open") if link.get(k)))
search = st.text_input("Conversation, customer or agent id", value=link.get("conversation", ""),
                       placeholder="CV00000123, a customer id or an agent id")
if search.strip():
    where += " and (conversation_id = ? or customer_id = ? or agent_id = ?)"
    params.extend([search.strip()] * 3)
    applied.append(f"id = {search.strip()}")

listing = f"select * from marts.fct_conversation_summary where {where} order by started_at_utc desc, conversation_id"
rows = query(listing, tuple(params))
if applied:
    # values come from the address: shown as text, never as markdown
    st.caption("Filtered by " + ", ".join(escape_markdown(a) for a in applied) + " as well as the rest of the "
               "sidebar. "
               "[Clear these filters](/conversations)")
if rows.empty:
    explain_empty_mart("fct_conversation_summary",
                       "No conversation has been loaded into this warehouse yet.",
                       "No conversation matches these filters. The period, channels and queues are in the sidebar; "
                       "the filters set by the address are listed above.")
    st.stop()

eligible = rows[rows["is_fcr_eligible"].fillna(False).astype(bool)]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Conversations", f"{len(rows):,}")
c2.metric("Customers", f"{rows['customer_id'].nunique():,}", help="Distinct customers: a customer who came back "
          "twice is one customer and two conversations.")
c3.metric("First-contact resolution", f"{eligible['is_first_contact_resolution'].mean():.1%}" if len(eligible)
          else "n/a", help=None if len(eligible) else "No conversation here is eligible for FCR (abandoned or "
          "still within the repeat window).")
answered = rows["csat"].dropna()
c4.metric("CSAT (mean)", f"{answered.mean():.2f}" if len(answered) else "n/a",
          help=f"{len(answered):,} of {len(rows):,} answered the survey" if len(answered) else
          "Nobody in this list answered the survey.")



@st.cache_data(max_entries=4, show_spinner=False)
def _file_bytes(sql: str, params: tuple, text_allowed: bool, fmt: str) -> bytes:
    """The download of one listing, made once per listing and format (not at every rerun of the page)."""
    frame = query(sql, params)
    if not text_allowed:
        frame = frame.drop(columns=[c for c in TEXT_COLUMNS if c in frame.columns])
    if fmt == "csv":
        return frame.to_csv(index=False).encode("utf-8")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


text_allowed = can_see_text()
export_columns = len(rows.columns) - (0 if text_allowed else sum(c in rows.columns for c in TEXT_COLUMNS))
stem = f"conversations-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}"
left, right, note = st.columns([1, 1, 3])
left.download_button("CSV", _file_bytes(listing, tuple(params), text_allowed, "csv"), file_name=f"{stem}.csv",
                     mime="text/csv", icon=":material/download:", on_click=audit.record,
                     args=("export", current_user()),
                     kwargs={"file": f"{stem}.csv", "rows": len(rows), "what": "conversations"})
right.download_button("Parquet", _file_bytes(listing, tuple(params), text_allowed, "parquet"),
                      file_name=f"{stem}.parquet",
                      mime="application/vnd.apache.parquet", icon=":material/download:", on_click=audit.record,
                      args=("export", current_user()),
                      kwargs={"file": f"{stem}.parquet", "rows": len(rows), "what": "conversations"})
note.caption(f"Every matching conversation, {export_columns} columns"
             + ("" if text_allowed else "; without the first message (conversation text is for supervisors, "
                "data stewards and admins)") + ".")

shown = rows[LIST_COLUMNS].head(SHOWN_ROWS)
if len(rows) > SHOWN_ROWS:
    st.caption(f"Listing the latest {SHOWN_ROWS:,} of {len(rows):,}; the downloads hold all of them.")
picked = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                      key="conversation_list",
                      column_config={**number_formats("%.0f", "quality_score"),
                                     "started_at_local": st.column_config.DatetimeColumn("started (local)")})

selected = picked.selection.rows if picked is not None else []
chosen = shown.iloc[selected[0]]["conversation_id"] if selected else (search.strip() if len(rows) == 1 else None)
if chosen is None:
    st.caption("Choose a row to open its transcript and readings.")
    st.stop()

record = rows[rows["conversation_id"] == chosen].iloc[0]


def _shown(column: str, missing: str) -> str:
    value = record[column]
    return missing if pd.isna(value) or value == "" else str(value)


def _seconds(column: str) -> str:
    return "n/a" if pd.isna(record[column]) else f"{float(record[column]):,.0f} s"


st.subheader(f"Conversation {chosen}")
facts = {"Intent": f"{_shown('intent_of_record', 'n/a')} ({_shown('intent_source', 'no reading yet')})",
         "Emotion path": _shown("emotion_path", "no reading yet"),
         "Quality": (f"{float(record['quality_score']):.0f} / 100, failed: {_shown('failed_dimensions', 'none')}"
                     if pd.notna(record["quality_score"]) else "not scored yet"),
         "Ticket": (f"{record['ticket_id']} ({_shown('ticket_status', '?')}, {_shown('ticket_priority', '?')})"
                    if pd.notna(record["ticket_id"]) else "none"),
         "Handling": f"{_seconds('handle_seconds')} handled, {_seconds('wait_seconds')} waiting, "
                     f"{_shown('transfer_count', '0')} transfers",
         "Survey": f"CSAT {float(record['csat']):.0f}" if pd.notna(record["csat"]) else "no answer"}
st.markdown("\n".join(f"- **{k}:** {v}" for k, v in facts.items()))
turns = query("""
    select turns.turn_index, turns.speaker, turns.text,
           concat_ws(' · ', readings.emotion, readings.act) as reading
    from marts.fct_turns as turns
    left join marts.fct_turn_readings as readings
        on readings.conversation_id = turns.conversation_id and readings.turn_index = turns.turn_index
    where turns.conversation_id = ?
    order by turns.turn_index""", (chosen,))
render_transcript(turns, reading_col="reading")
