-- Every survey response reduced to the two scores the contact KPIs read (CSAT 1-5, NPS 0-10), from both
-- landing contracts: the one-row `surveys` file and the per-question `survey_answers` file (a csat or nps
-- question on another scale is rescaled onto the KPI's).
with

surveys as (
    select * from {{ ref('stg_raw__surveys') }}
),

answers as (
    select * from {{ ref('stg_raw__survey_answers') }}
),

scored_answers as (
    select
        survey_id,
        conversation_id,
        min(answered_at) as responded_at,
        max(case when measure = 'csat' then
            case when scale_min = 1 and scale_max = 5 then answer_value
                 else 1 + 4 * (answer_value - scale_min) / (scale_max - scale_min) end end) as csat,
        max(case when measure = 'nps' then
            case when scale_min = 0 and scale_max = 10 then answer_value
                 else 10 * (answer_value - scale_min) / (scale_max - scale_min) end end) as nps
    from answers
    where is_answered and measure in ('csat', 'nps') and answer_value is not null
    group by survey_id, conversation_id
),

final as (
    select survey_id, conversation_id, responded_at, csat, nps
    from surveys
    union all
    select survey_id, conversation_id, responded_at, round(csat)::integer, round(nps)::integer
    from scored_answers
)

select * from final
