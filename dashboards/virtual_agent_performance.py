"""How the virtual agent is doing: containment, why it hands over, what customers rate it (from the snapshot).

Reads ``marts.fct_virtual_agent_contacts`` (one row per contact a bot answered in). The platform's
own virtual agent is its queue; chatbot contacts that came in an export are shown beside it, so a
company comparing its old bot with this one reads both on the same terms.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.data import current_filters, has_table, query
from dashboards.widgets import escape_markdown as esc


def render_performance(queue: str) -> None:
    if not has_table("fct_virtual_agent_contacts"):
        st.info("This snapshot was built before virtual-agent contacts were analysed: the next build adds them.",
                icon=":material/hourglass_empty:")
        return
    filters = current_filters()
    where, params = ("started_date between ? and ?", [filters.start, filters.end]) if filters else ("true", [])
    contacts = query(f"select * from marts.fct_virtual_agent_contacts where {where}", tuple(params))
    if contacts.empty:
        total = int(query("select count(*) as n from marts.fct_virtual_agent_contacts").iloc[0]["n"])
        if total == 0:
            st.info(f"No contact with a bot in it has been built yet. Conversations on the Talk tab land in queue "
                    f"`{esc(queue)}` and appear here after the next build; exports whose turns have the speaker "
                    "'bot' count too.", icon=":material/smart_toy:")
        else:
            st.info(f"None of the {total:,} bot contacts in the warehouse falls in the period chosen in the sidebar.")
        return
    ours = contacts[contacts["is_virtual_agent"]]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Bot contacts", f"{len(contacts):,}", f"{len(ours):,} by this virtual agent", delta_color="off")
    c2.metric("Contained", f"{contacts['is_contained'].mean():.0%}",
              help="No person stepped in (no transfer, no agent message, no hand-over) and the customer stayed.")
    c3.metric("Handed over", f"{contacts['is_handed_over'].sum():,}")
    rated = contacts["csat"].dropna()
    if rated.empty:
        c4.metric("CSAT", "—", help="No customer has rated a bot contact in this period (the stars under an answer).")
    else:
        c4.metric("CSAT", f"{rated.mean():.1f} / 5", f"{len(rated):,} rating(s)", delta_color="off")

    left, right = st.columns(2)
    with left:
        st.caption("Containment by bot, channel and language")
        grouped = contacts.assign(bot=contacts["is_virtual_agent"].map({True: "this virtual agent",
                                                                        False: "imported chatbot"}),
                                  language=contacts["language"].fillna("not recorded"))
        table = (grouped.groupby(["bot", "channel", "language"], as_index=False)
                 .agg(contacts=("conversation_id", "count"), contained=("is_contained", "mean"),
                      csat=("csat", "mean")))
        st.dataframe(table, hide_index=True, column_config={
            "contained": st.column_config.ProgressColumn("contained", format="percent", min_value=0, max_value=1),
            "csat": st.column_config.NumberColumn("CSAT", format="%.1f")})
    with right:
        st.caption("Why the bot handed over (a contact can have several reasons)")
        reasons = contacts["handover_reasons"].dropna()
        if reasons.empty:
            st.success("No hand-over in this period: every bot contact was contained or abandoned.")
        else:
            counts = pd.Series([r for rs in reasons for r in rs]).value_counts().rename_axis("reason")
            st.dataframe(counts.reset_index(name="contacts"), hide_index=True)
    daily = contacts.groupby("started_date", as_index=False).agg(contacts=("conversation_id", "count"),
                                                                 contained=("is_contained", "mean"))
    if len(daily) > 1:
        st.caption("Contacts and containment per day")
        st.line_chart(daily.set_index("started_date")[["contained"]])
