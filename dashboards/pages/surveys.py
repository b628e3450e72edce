"""Surveys: every question's results and response rate, and what customers wrote, linked to their contacts.

Reads marts.fct_survey_answers (one row per survey question sent, answered or not, from the
`survey_answers` landing contract). Rates are per question: a customer may answer the score and skip
the comment. Scores are shown on each question's own scale and as the share of the scale (0 lowest,
1 highest) so questions on different scales compare. Comments are the customer's words (masked): only
roles that read conversation text see them. CSAT and NPS on the Overview read the same answers.
"""

from __future__ import annotations

import streamlit as st

from dashboards.access import text_allowed_or_notice
from dashboards.data import query
from dashboards.widgets import download_button, explain_empty_mart, number_formats, page_filters, require_marts

filters = page_filters("Surveys")
require_marts("This snapshot was built before per-question surveys existed; the next build adds them.",
              "fct_survey_answers")
where, params = filters.where("sent_date", "channel", "final_queue_id")
per_question = query(f"""
    select survey_name, question_id, any_value(question) as question, any_value(measure) as measure,
           any_value(scale_min) as scale_min, any_value(scale_max) as scale_max,
           count(*) as sent, count(*) filter (where is_answered) as answered,
           count(*) filter (where is_answered) / count(*) as response_rate,
           avg(answer_value) filter (where is_answered) as mean_answer,
           avg(score_share) filter (where is_answered) as mean_share_of_scale,
           avg(is_top_box::int) filter (where is_answered and answer_value is not null) as top_box,
           count(*) filter (where answer_text is not null) as comments
    from marts.fct_survey_answers where {where}
    group by all order by survey_name, question_id""", tuple(params))
if per_question.empty:
    explain_empty_mart("fct_survey_answers",
                       "No survey question has been loaded: drop the survey platform's export (one row per survey and "
                       "question: survey_id, conversation_id, question_id, scale, sent_at, answered_at, answer) into "
                       "`landing/survey_answers/`. CSAT and NPS from one-row `surveys` files still show on the "
                       "Overview.",
                       "No survey was sent in this period for the chosen channels and queues. Widen the filters.",
                       icon=":material/poll:")
    st.stop()

surveys = query(f"""
    select count(distinct survey_id) as sent,
           count(distinct survey_id) filter (where is_answered) as answered
    from marts.fct_survey_answers where {where}""", tuple(params)).iloc[0]
c1, c2, c3 = st.columns(3)
c1.metric("Surveys sent", f"{int(surveys['sent']):,}")
c2.metric("Answered (at least one question)", f"{int(surveys['answered']):,}")
c3.metric("Response rate", f"{surveys['answered'] / surveys['sent']:.1%}")

st.subheader("Results per question")
st.dataframe(per_question, hide_index=True, width="stretch",
             column_config={**number_formats("percent", "response_rate", "top_box"),
                            **number_formats("%.2f", "mean_answer", "mean_share_of_scale")})
download_button(per_question, "survey_questions.csv", "Download the results per question (CSV)")

st.subheader("What customers wrote")
if text_allowed_or_notice():
    comments = query(f"""
        select answered_at, conversation_id, question, answer_text as comment, agent_id, team_id,
               '/conversations?conversation=' || conversation_id as contact
        from marts.fct_survey_answers
        where {where} and answer_text is not null
        order by answered_at desc limit 500""", tuple(params))
    if comments.empty:
        st.info("No written comment in this period.")
    else:
        st.dataframe(comments, hide_index=True, width="stretch",
                     column_config={"contact": st.column_config.LinkColumn("contact", display_text="open")})
