"""Languages: how much work arrives in each language, is it served as well, and can we read it?

A conversation's language is the one the language detector found most often in the customer's
turns (marts.fct_turn_translations); when the customer never wrote (an abandoned call), the
agent's turns, and failing those the customer's profile language. On the sample build the detected
language matches the generator's truth for 99.9% of conversations, against about 95% for the
profile language (customers sometimes write in another one).
"""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards.access import text_allowed_or_notice
from dashboards.data import has_table, query
from dashboards.widgets import (
    contacts_link, download_button, escape_markdown as esc, number_formats, page_filters, plain, require_marts,
)
from service_insight.settings import get_settings

CONVERSATION_LANGUAGE = """
    conversation_language as (
        -- The conversation's language as the conversation summary defines it (one definition for every page).
        select c.*, s.language
        from marts.fct_conversations as c
        inner join marts.fct_conversation_summary as s on s.conversation_id = c.conversation_id
    )
"""

filters = page_filters("Languages")
require_marts("This snapshot has no language readings yet (marts.fct_turn_translations). Run a build with the "
              "translation assets (`make materialize`).", "fct_turn_translations", "fct_conversation_summary")

where, params = filters.where("c.started_date", "c.channel", "c.final_queue_id")
by_language = query(f"""
    with {CONVERSATION_LANGUAGE}
    select
        c.language,
        count(*) as contacts,
        round(count(*) / sum(count(*)) over (), 4) as share,
        round(avg(c.csat), 2) as csat,
        count(c.csat) as csat_responses,
        round(count(*) filter (where c.is_first_contact_resolution)
              / nullif(count(*) filter (where c.is_fcr_eligible), 0), 4) as fcr_rate,
        round(avg(c.handle_seconds) filter (where not c.is_abandoned)) as aht_seconds,
        round(avg(c.is_transferred::int) filter (where not c.is_abandoned), 4) as transfer_rate,
        round(avg(c.is_abandoned::int), 4) as abandonment_rate,
        round(avg(c.contact_cost), 2) as cost_per_contact
    from conversation_language as c
    where {where}
    group by c.language
    order by contacts desc""", tuple(params))
if by_language.empty:
    st.info("No contacts in this period for the chosen channels and queues. Widen the filters in the sidebar.")
    st.stop()

cols = st.columns(min(len(by_language), 6))
for col, row in zip(cols, by_language.head(6).itertuples(index=False)):
    col.metric(f"{esc(row.language)} contacts", f"{row.contacts:,}", f"{row.share:.0%} of all", delta_color="off",
               delta_arrow="off")
pick, link = st.columns([2, 3])
chosen_language = pick.selectbox("Contacts in", by_language["language"].tolist(), key="languages_contacts_in",
                                 label_visibility="collapsed")
with link:
    contacts_link(f"The contacts in {chosen_language}", language=chosen_language)

st.subheader("Volume and quality by language")
left, right = st.columns(2)
with left:
    daily = query(f"""
        with {CONVERSATION_LANGUAGE}
        select c.started_date as day, c.language, count(*) as contacts
        from conversation_language as c
        where {where}
        group by all order by day, c.language""", tuple(params))
    st.plotly_chart(px.area(plain(daily, "language"), x="day", y="contacts", color="language", labels={"day": ""}), width="stretch")
with right:
    long = by_language.melt(id_vars="language", value_vars=["fcr_rate", "transfer_rate", "abandonment_rate"],
                            var_name="measure", value_name="rate")
    fig = px.bar(plain(long, "language"), x="language", y="rate", color="measure", barmode="group", labels={"language": ""})
    fig.update_yaxes(tickformat=".0%")
    st.plotly_chart(fig, width="stretch")
c1, c2 = st.columns(2)
c1.plotly_chart(px.bar(plain(by_language, "language"), x="language", y="csat", range_y=(1, 5), text="csat",
                       labels={"language": "", "csat": "CSAT (1-5)"}), width="stretch")
c2.plotly_chart(px.bar(plain(by_language, "language"), x="language", y="aht_seconds", text="aht_seconds",
                       labels={"language": "", "aht_seconds": "avg handle time (s)"}), width="stretch")
st.dataframe(by_language, hide_index=True, width="stretch",
             column_config=number_formats("percent", "share", "fcr_rate", "transfer_rate", "abandonment_rate"))
download_button(by_language, "languages.csv", "Download volume and quality by language (CSV)")

st.subheader("Translation quality per language pair")
pivot = get_settings().translation_pivot
if not has_table("fct_translation_quality"):
    st.info("No translation evaluation in this snapshot (marts.fct_translation_quality).")
else:
    quality = query("""
        select source_language, target_language, bleu, chrf, eval_pairs, usable, analytics_path, model_version,
               evaluated_at
        from marts.fct_translation_quality
        order by source_language, target_language""")
    readable = query(f"""
        select t.source_language, count(*) as turns, round(avg(t.is_readable::int), 4) as readable_share
        from marts.fct_turn_translations as t
        inner join marts.fct_conversations as c on c.conversation_id = t.conversation_id
        where {where}
        group by 1 order by turns desc""", tuple(params))
    if quality.empty:
        st.info("The translation model has not been evaluated yet.")
    else:
        quality["pair"] = quality["source_language"] + " → " + quality["target_language"]
        fig = px.bar(quality, x="pair", y="chrf", color="usable", text="chrf", hover_data=["bleu", "eval_pairs"],
                     color_discrete_map={True: "#2ca02c", False: "#d62728"}, labels={"pair": "", "chrf": "chrF"})
        fig.add_hline(y=get_settings().translation_min_chrf, line_dash="dot",
                      annotation_text=f"usable from chrF {get_settings().translation_min_chrf}")
        st.plotly_chart(fig, width="stretch")
        into_pivot = quality[quality["target_language"] == pivot]
        for row in into_pivot[~into_pivot["usable"].fillna(False).astype(bool)].itertuples(index=False):
            st.warning(f"**{row.source_language} → {row.target_language}** is not usable (chrF {row.chrf:.1f}, "
                       f"BLEU {row.bleu:.1f}): analytics for **{row.source_language}** conversations use "
                       "cross-lingual embeddings, not the translation. Read its translations as a rough gist only.",
                       icon=":material/translate:")
        if into_pivot["usable"].fillna(False).astype(bool).all() and not into_pivot.empty:
            st.success(f"Every language translates usably into {pivot}.")
        st.dataframe(quality.drop(columns=["pair"]), hide_index=True, width="stretch")
        download_button(quality.drop(columns=["pair"]), "translation_quality.csv",
                        "Download translation quality (CSV)")
    st.caption(f"Turns whose {pivot} text can be read (already in {pivot}, or translated by a usable pair):")
    st.dataframe(readable, hide_index=True, width="stretch",
                 column_config={"readable_share": st.column_config.ProgressColumn("readable", min_value=0,
                                                                                  max_value=1, format="percent")})

st.subheader("A conversation beside its translation")
if not text_allowed_or_notice():  # turns and translations are conversation text: supervisors only
    st.stop()
languages = by_language["language"].tolist()
default = next((i for i, lang in enumerate(languages) if lang != pivot), 0)
language = st.selectbox("Language", languages, index=default, key="languages_language")
picks = query(f"""
    with {CONVERSATION_LANGUAGE}
    select c.conversation_id, c.started_date, c.channel, c.turn_count
    from conversation_language as c
    where {where} and c.language = ? and c.turn_count > 0
    order by c.started_at desc, c.conversation_id
    limit 300""", (*params, language))
if picks.empty:
    st.info(f"No {esc(language)} conversation with turns in this selection.")
    st.stop()
labels = {r.conversation_id: f"{r.conversation_id} · {r.started_date:%d %b} · {r.channel} · {r.turn_count} turns"
          for r in picks.itertuples(index=False)}
picked = st.selectbox("Conversation", list(labels), format_func=lambda i: labels.get(i, i),
                      key="languages_conversation")
side_by_side = query("""
    select
        t.turn_index,
        t.speaker,
        t.text as original,
        tr.source_language as detected,
        round(tr.language_confidence, 2) as confidence,
        tr.translation,
        tr.passed_through,
        tr.is_readable
    from marts.fct_turns as t
    left join marts.fct_turn_translations as tr
        on tr.conversation_id = t.conversation_id and tr.turn_index = t.turn_index
    where t.conversation_id = ?
    order by t.turn_index""", (picked,))
if not side_by_side.empty and not side_by_side["is_readable"].fillna(False).astype(bool).all():
    st.caption("Rows marked not readable were translated by a pair rated not usable: a gist, not a reference.")
st.dataframe(side_by_side, hide_index=True, width="stretch",
             column_config={"original": st.column_config.TextColumn("original (masked)", width="large"),
                            "translation": st.column_config.TextColumn(f"{pivot} translation", width="large")})
download_button(side_by_side, f"translation_{picked}.csv", "Download this conversation with its translation (CSV)")
