with

checks as (
    select * from {{ ref('fct_qa_checks') }}
),

final as (
    select
        conversation_id,
        any_value(started_date) as started_date,
        any_value(channel) as channel,
        any_value(agent_id) as agent_id,
        any_value(team_id) as team_id,
        any_value(queue_id) as queue_id,
        count(*) filter (where not measured) as checks_unmeasured,
        count(*) filter (where applicable) as checks_applicable,
        count(*) filter (where passed) as checks_passed,
        {{ round_half_up('100.0 * count(*) filter (where passed) / nullif(count(*) filter (where applicable), 0)', 1) }}
            as quality_score,
        {{ sorted_list_where('dimension', 'failed') }} as failed_dimensions,
        bool_or(failed and dimension = 'forbidden_language') as has_forbidden_language
    from checks
    group by conversation_id
)

select * from final
