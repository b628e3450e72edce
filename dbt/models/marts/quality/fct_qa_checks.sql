with

checks as (
    select * from {{ ref('int_quality__checks') }}
),

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

turns as (
    select * from {{ ref('int_turns__enriched') }}
),

final as (
    select
        checks.conversation_id,
        checks.dimension,
        conversations.started_date,
        conversations.channel,
        conversations.agent_id,
        conversations.team_id,
        conversations.final_queue_id as queue_id,
        checks.measured,
        checks.applicable,
        checks.passed,
        checks.applicable and not checks.passed as failed,
        checks.evidence_turn_index,
        turns.speaker as evidence_speaker,
        turns.text as evidence_text,
        checks.method
    from checks
    inner join conversations using (conversation_id)
    left join turns
        on turns.conversation_id = checks.conversation_id
        and turns.turn_index = checks.evidence_turn_index
)

select * from final
