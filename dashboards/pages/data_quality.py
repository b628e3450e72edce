"""Data quality: what arrived, what was rejected and why — nothing disappears silently."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards.access import QUARANTINE_HIDDEN, QUARANTINE_ROLES, has_role
from dashboards.data import has_table, query, snapshot
from dashboards.widgets import download_button, empty_state, plain

st.title("Data quality")
if snapshot() is None or not has_table("fct_ingest_files"):
    empty_state()
    st.stop()

lines_known = has_table("fct_ingest_files") and "lines_reconcile" in query(
    "select * from marts.fct_ingest_files limit 0").columns  # a snapshot published before line accounting lacks it
line_columns = """, sum(physical_lines) as physical_lines, bool_and(lines_reconcile) as lines_reconcile,
           count(*) filter (where status = 'not_read') as not_read""" if lines_known else ""
totals = query(f"""
    select source_name as source, count(*) as files, sum(rows_in) as rows_in, sum(rows_loaded) as rows_loaded,
           sum(rows_quarantined) as rows_quarantined, bool_and(counts_reconcile) as counts_reconcile{line_columns}
    from marts.fct_ingest_files group by 1 order by 1""")
all_in, loaded, bad = (int(totals[c].sum()) for c in ("rows_in", "rows_loaded", "rows_quarantined"))
c1, c2, c3, c4 = st.columns(4)
c1.metric("Records received", f"{all_in:,}")
c2.metric("Loaded", f"{loaded:,}")
c3.metric("Quarantined", f"{bad:,}", f"{bad / all_in:.2%} of input" if all_in else None, delta_color="off")
# Records must add up, and so must the physical lines of every text file: a quote error that merged
# lines into one record, or line endings read wrongly, show here as lines that do not reconcile.
records_ok = all_in == loaded + bad
lines_ok = bool(totals["lines_reconcile"].fillna(True).all()) if lines_known else None
c4.metric("Counts reconcile", "yes" if records_ok and lines_ok is not False else "NO",
          help="Records: received = loaded + quarantined. Lines: every physical line of each CSV / JSON Lines "
               "file is a header, blank, a record or a continuation of a multi-line record."
               + ("" if lines_known else " (line counts: this snapshot predates them)"))

st.subheader("By source")
st.dataframe(totals, hide_index=True, width="stretch")

if lines_known:
    skipped = query("""select source_name as source, source_file as entry, note as reason, loaded_at as seen_at
                       from marts.fct_ingest_files where status = 'not_read' order by source_file""")
    if not skipped.empty:
        st.subheader("Entries not read")
        st.caption("Links, devices, hidden files and anything resolving outside the landing folder are never "
                   "opened; each is listed here with the reason instead of being skipped silently.")
        st.dataframe(skipped, hide_index=True, width="stretch")

if has_table("fct_ingest_duplicates"):
    duplicates = query("""select source_name as source, count(*) as versions_dropped,
                                 count(distinct natural_key) as keys, count(*) filter (where across_files) as across_files
                          from marts.fct_ingest_duplicates group by 1 order by 2 desc""")
    st.subheader("Keys delivered more than once")
    if duplicates.empty:
        st.caption("Every natural key arrived once.")
    else:
        st.caption("The latest export wins: the day in the file name, then the file's modification time, then "
                   "the file name, then the line. The versions dropped:")
        st.dataframe(duplicates, hide_index=True, width="stretch")
        dropped = query("""select source_name as source, natural_key, source_file as dropped_file, line as dropped_line,
                                  kept_file, kept_line from marts.fct_ingest_duplicates
                           order by source_name, natural_key limit 5000""")
        with st.expander("Every dropped version"):
            st.dataframe(dropped, hide_index=True, width="stretch")

if has_table("fct_turns"):
    # Masking happens in staging; these counts show it ran on what the dashboards read.
    st.subheader("PII masking")
    pii = query("""
        select t.channel, count(distinct t.conversation_id) filter (where t.pii_items_masked > 0) as conversations,
               count(*) filter (where t.pii_items_masked > 0) as turns, sum(t.pii_items_masked) as items_masked
        from marts.fct_turns as t group by 1 order by items_masked desc""")
    p1, p2, p3 = st.columns(3)
    p1.metric("PII items masked", f"{int(pii['items_masked'].sum()):,}")
    p2.metric("Turns with PII", f"{int(pii['turns'].sum()):,}")
    p3.metric("Conversations with PII", f"{int(pii['conversations'].sum()):,}")
    st.dataframe(pii, hide_index=True, width="stretch")

if has_table("fct_annotator_agreement"):
    # Labels train the models only where two blind reviewers agree; low agreement flags a guideline to fix.
    st.subheader("Annotator agreement (double-blind review)")
    agreement = query("""
        select *
        from marts.fct_annotator_agreement order by label_kind, agreement_rate""")
    if agreement.empty:
        st.caption("No record has been labelled by two reviewers yet: the Review page collects blind labels.")
    else:
        kinds = agreement.groupby("label_kind", as_index=False).agg(
            double_reviewed=("double_reviewed", "sum"), agreed=("agreed", "sum"),
            kappa=("kind_kappa", "first") if "kind_kappa" in agreement else ("agreed", "size"))
        for col, row in zip(st.columns(len(kinds)), kinds.itertuples()):
            kappa = row.kappa if "kind_kappa" in agreement and row.kappa == row.kappa else None
            col.metric(f"{row.label_kind} agreement", f"{row.agreed / row.double_reviewed:.1%}",
                       help=f"{row.agreed:,} of {row.double_reviewed:,} double-reviewed records")
            col.caption(f"kappa {kappa:.2f} (chance-corrected)" if kappa is not None else
                        "kappa: not measurable (every label given was the same one)")
        st.plotly_chart(px.bar(plain(agreement, "label"), x="agreement_rate", y="label", color="label_kind", orientation="h",
                               hover_data=["double_reviewed", "agreed"], labels={"label": "", "agreement_rate":
                               "agreement"}, height=max(300, 18 * len(agreement))), width="stretch")
        download_button(agreement, "annotator_agreement.csv", "Download agreement (CSV)")

st.subheader("Quarantined records")
reasons = query("""
    select source_name as source,
           regexp_replace(reason, '''[^'']*''', '''…''', 'g') as reason,
           count(*) as records
    from marts.fct_ingest_quarantine group by all order by records desc""")
if reasons.empty:
    st.success("Nothing was quarantined: every landing record loaded.")
    st.stop()
st.plotly_chart(px.bar(plain(reasons, "reason", "source"), x="records", y="reason", color="source", orientation="h",
                       labels={"reason": ""}), width="stretch")

sources = sorted(reasons["source"].unique().tolist())
picked = st.multiselect("Sources", sources, placeholder="All sources")
params = tuple(picked)
where = f"where source_name in ({', '.join('?' for _ in picked)})" if picked else ""
# A rejected record holds the same personal data as any conversation, and masking cannot vouch for
# text that failed validation: only data stewards (and admins) read it; others see where and why.
if has_role(QUARANTINE_ROLES):
    columns = "reason, record_masked as record"
else:
    columns = "regexp_replace(reason, '''[^'']*''', '''…''', 'g') as reason"
    st.info(QUARANTINE_HIDDEN, icon=":material/lock:")
records = query(f"""
    select source_name as source, source_file as file, line, {columns}, quarantined_at
    from marts.fct_ingest_quarantine {where}
    order by quarantined_at desc, source_file, line limit 5000""", params)
st.dataframe(records, hide_index=True, width="stretch")
download_button(records, "quarantine.csv", "Download quarantined records (CSV)")
