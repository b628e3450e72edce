with

source as (
    select * from {{ source('raw', 'survey_answers') }}
),

final as (
    select
        survey_id,
        conversation_id,
        coalesce(survey_name, 'survey') as survey_name,
        question_id,
        coalesce(question, question_id) as question,
        coalesce(measure, 'other') as measure,
        scale_min,
        scale_max,
        sent_at,
        answered_at,
        answer_value,
        -- Free text is the customer's own words: the same recognisers as conversation turns, run only where
        -- there is text (most rows are scores; the recognisers cost about as much per row as on a turn).
        case when nullif(trim(answer_text), '') is not null then {{ mask_pii('answer_text') }} end as answer_text,
        answered_at is not null and (answer_value is not null or nullif(trim(answer_text), '') is not null)
            as is_answered
    from source
    qualify row_number() over (partition by survey_id, question_id order by {{ latest_first() }}) = 1
)

select * from final
