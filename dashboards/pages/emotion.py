"""Emotion: are customers getting upset more often, where, and did the agent respond to it?

Reads the emotion the model read in every customer turn (marts.fct_turn_readings) and the alerts
raised when a customer turned negative (marts.fct_emotion_alerts). The global filters apply
through the conversation (its start date, channel and handling queue), the same keys the KPI
mart uses, so the numbers here line up with the overview.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data import query
from dashboards.transcript import TurnNote, render_transcript
from dashboards.access import can_see_text
from dashboards.widgets import contacts_links, download_button, explain_no_rows, readings_page

EMOTION_COLOURS = {"angry": "#d62728", "anxious": "#ff7f0e", "confused": "#bcbd22", "neutral": "#9e9e9e",
                   "satisfied": "#2ca02c"}

# bench/zero_shot_turns.py on GoEmotions (English) and CLUEmotion (Chinese), mapped to the five emotions.
ZERO_SHOT_FIGURES = ("0.38 in English and 0.43 in Chinese, against 0.12 and 0.25 for always guessing the commonest "
                     "emotion; a model trained on labels reaches about 0.61")

filters, where, params = readings_page("Emotion", "emotion readings", "fct_turn_readings", "fct_emotion_alerts")

daily = query(f"""
    select
        r.started_date as day,
        c.channel,
        count(*) as customer_turns,
        count(*) filter (where r.is_negative) as negative_turns,
        count(*) filter (where r.is_negative) / count(*) as negative_share
    from marts.fct_turn_readings as r
    inner join marts.fct_conversations as c on c.conversation_id = r.conversation_id
    where r.speaker = 'customer' and r.emotion is not null and {where}
    group by all
    order by day, c.channel""", tuple(params))

alerts = query(f"""
    select
        a.conversation_id,
        a.started_date,
        a.alert_at,
        a.channel,
        a.queue_id,
        a.team_id,
        a.agent_id,
        a.emotion,
        round(a.confidence, 3) as confidence,
        a.previous_emotion,
        a.alert_turn_index,
        a.seconds_into_conversation,
        a.escalate,
        a.recommended_action,
        a.agent_showed_empathy,
        a.empathy_turn_index,
        a.alert_text
    from marts.fct_emotion_alerts as a
    inner join marts.fct_conversations as c on c.conversation_id = a.conversation_id
    where {where}
    order by a.alert_at desc, a.conversation_id""", tuple(params))

if daily.empty:
    read = query("select count(*) as n from marts.fct_turn_readings where speaker = 'customer' and emotion is not null")
    explain_no_rows(read.empty or int(read.iloc[0]["n"]) == 0,
                    "No emotion readings yet: no emotion model has been trained on this warehouse, so no customer "
                    "turn has an emotion. It trains once reviewers have agreed on enough labelled customer turns (the "
                    "Models page shows what each model has).",
                    "No customer turn with an emotion reading in this period for the chosen channels and queues.")
    st.stop()

zero_shot = query(f"""
    select count(*) filter (where r.emotion_model_version like 'zero-shot:%') / count(*) as share
    from marts.fct_turn_readings as r
    inner join marts.fct_conversations as c on c.conversation_id = r.conversation_id
    where r.speaker = 'customer' and r.emotion is not null and {where}""", tuple(params))
if not zero_shot.empty and float(zero_shot.iloc[0]["share"] or 0) > 0:
    st.warning(f"{float(zero_shot.iloc[0]['share']):.0%} of these emotion readings are zero-shot, not learnt from your "
               "reviewed labels: each turn is compared with a few described example lines per emotion (on public "
               f"sets: macro-F1 {ZERO_SHOT_FIGURES}). Treat them as indicative; an emotion model replaces them once "
               "reviewers agree on enough labelled customer turns (Review page).", icon=":material/science:")

turns, negative = int(daily["customer_turns"].sum()), int(daily["negative_turns"].sum())
conversations = query(f"select count(*) as n from marts.fct_conversations as c where {where}", tuple(params))
n_conv = int(conversations.iloc[0]["n"]) if not conversations.empty else 0
c1, c2, c3, c4 = st.columns(4)
c1.metric("Negative customer turns", f"{negative / turns:.1%}" if turns else "–",
          help="Share of customer turns read as angry or anxious")
c2.metric("Alerts", f"{len(alerts):,}", f"{len(alerts) / n_conv:.1%} of conversations" if n_conv else None,
          delta_color="off", delta_arrow="off")
c3.metric("Escalated to a supervisor", f"{alerts['escalate'].mean():.0%}" if len(alerts) else "–")
c4.metric("Agent showed empathy", f"{alerts['agent_showed_empathy'].mean():.0%}" if len(alerts) else "–",
          help="An empathy act within the three turns after the alert")
if len(alerts):
    contacts_links(("The conversations with an alert", {"alert": "yes"}),
                   ("The alerts escalated to a supervisor", {"escalated": "yes"}))

st.subheader("Negative customer turns per day")
fig = px.line(daily, x="day", y="negative_share", color="channel", markers=True,
              hover_data={"customer_turns": True, "negative_turns": True},
              labels={"day": "", "negative_share": "negative share of customer turns"})
fig.update_yaxes(tickformat=".0%")
st.plotly_chart(fig, width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Emotion mix by channel")
    mix = query(f"""
        select c.channel, r.emotion, count(*) as turns
        from marts.fct_turn_readings as r
        inner join marts.fct_conversations as c on c.conversation_id = r.conversation_id
        where r.speaker = 'customer' and r.emotion is not null and {where}
        group by all order by c.channel, r.emotion""", tuple(params))
    fig = px.histogram(mix, x="channel", y="turns", color="emotion", barnorm="percent",
                       color_discrete_map=EMOTION_COLOURS, labels={"channel": ""})
    fig.update_yaxes(title="% of customer turns")
    st.plotly_chart(fig, width="stretch")
with right:
    st.subheader("Alerts per day")
    if alerts.empty:
        st.success("No alerts in this period.")
    else:
        per_day = alerts.groupby(["started_date", "recommended_action"], as_index=False).size()
        st.plotly_chart(px.bar(per_day, x="started_date", y="size", color="recommended_action",
                               labels={"started_date": "", "size": "alerts", "recommended_action": ""}),
                        width="stretch")
download_button(daily, "emotion_daily.csv", "Download the daily negative share (CSV)")

st.subheader("Alerts")
if alerts.empty:
    st.info("No negative-emotion alerts in this period for the chosen channels and queues.")
    st.stop()
left, right = st.columns(2)
only_escalated = left.toggle("Only escalations", value=False, key="emotion_only_escalated")
only_no_empathy = right.toggle("Only where the agent showed no empathy", value=False, key="emotion_no_empathy")
shown = alerts if can_see_text() else alerts.drop(columns=["alert_text"])  # text is for supervisors
if only_escalated:
    shown = shown[shown["escalate"]]
if only_no_empathy:
    shown = shown[~shown["agent_showed_empathy"].fillna(False).astype(bool)]
st.dataframe(shown.drop(columns=["alert_at"]), hide_index=True, width="stretch",
             column_config={"confidence": st.column_config.ProgressColumn("confidence", min_value=0, max_value=1,
                                                                           format="%.2f"),
                            "alert_text": st.column_config.TextColumn("alert text (masked)", width="large")})
download_button(shown, "emotion_alerts.csv", "Download the alerts (CSV)")
if shown.empty:
    st.info("No alert matches these switches.")
    st.stop()

st.subheader("The conversation behind an alert")
labels = {row.conversation_id: f"{row.conversation_id} · {row.started_date:%d %b} · {row.channel} · {row.emotion} · "
                               f"{row.recommended_action}"
          for row in shown.itertuples(index=False)}
picked = st.selectbox("Alert", list(labels), format_func=lambda i: labels.get(i, i), key="emotion_alert")
alert = shown[shown["conversation_id"] == picked].iloc[0]
conversation = query("""
    select
        t.turn_index,
        t.speaker,
        t.ts,
        t.text,
        case
            when r.emotion is not null then r.emotion || ' (' || round(r.emotion_confidence, 2) || ')'
            when r.act is not null then r.act || ' (' || round(r.act_confidence, 2) || ')'
        end as reading
    from marts.fct_turns as t
    left join marts.fct_turn_readings as r
        on r.conversation_id = t.conversation_id and r.turn_index = t.turn_index
    where t.conversation_id = ?
    order by t.turn_index""", (picked,))

notes: dict[int, list[TurnNote]] = {}
notes.setdefault(int(alert["alert_turn_index"]), []).append(TurnNote(
    f"Alert raised here: {alert['emotion']} ({alert['confidence']:.2f}) after {alert['previous_emotion'] or 'no'} "
    f"emotion → {alert['recommended_action']}", "error" if alert["escalate"] else "warning"))
if pd.notna(alert["empathy_turn_index"]):
    notes.setdefault(int(alert["empathy_turn_index"]), []).append(TurnNote("The agent showed empathy here", "success"))
else:
    st.caption("No empathy from the agent within three turns of the alert.")
render_transcript(conversation, notes, reading_col="reading")
if can_see_text():
    download_button(conversation, f"conversation_{picked}.csv", "Download this conversation (CSV)")
