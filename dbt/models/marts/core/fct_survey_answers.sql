-- One row per survey question sent, answered or not, with the contact it asks about: results per
-- question, response rates and the customers' comments (masked), linked to their conversations.
with

answers as (
    select * from {{ ref('stg_raw__survey_answers') }}
),

conversations as (
    select * from {{ ref('fct_conversations') }}
),

final as (
    select
        answers.survey_id,
        answers.conversation_id,
        answers.survey_name,
        answers.question_id,
        answers.question,
        answers.measure,
        answers.scale_min,
        answers.scale_max,
        answers.sent_at,
        cast(answers.sent_at as date) as sent_date,
        answers.answered_at,
        answers.is_answered,
        answers.answer_value,
        case when answers.scale_max > answers.scale_min and answers.answer_value is not null
            then (answers.answer_value - answers.scale_min) / (answers.scale_max - answers.scale_min)
        end as score_share,
        answers.answer_value = answers.scale_max as is_top_box,
        answers.answer_text,
        conversations.started_date,
        conversations.channel,
        conversations.final_queue_id,
        conversations.team_id,
        conversations.agent_id,
        conversations.conversation_id is not null as has_conversation
    from answers
    left join conversations on conversations.conversation_id = answers.conversation_id
)

select * from final
