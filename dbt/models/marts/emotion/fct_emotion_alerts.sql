with

turns as (
    select * from {{ ref('int_turns__enriched') }}
),

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

customer_turns as (
    select
        *,
        lag(emotion) over (partition by conversation_id order by turn_index) as previous_emotion,
        lead(is_negative) over (partition by conversation_id order by turn_index) as next_is_negative
    from turns
    where speaker = 'customer' and emotion is not null
),

turned_negative as (
    -- The live-alert case: after the opening message, the customer's emotion turns negative.
    -- One alert per conversation, at the first such turn.
    select *
    from customer_turns
    where customer_turn_number > 1
        and is_negative
        and emotion_confidence >= {{ var('emotion_alert_min_confidence') }}
    qualify row_number() over (partition by conversation_id order by turn_index) = 1
),

next_agent_turn as (
    -- What the agent did right after the alert (empathy is the expected handling).
    select
        alert.conversation_id,
        min(t.turn_index) filter (where t.act = 'empathy') as empathy_turn_index,
        min(t.turn_index) as next_agent_turn_index
    from turned_negative as alert
    inner join turns as t
        on t.conversation_id = alert.conversation_id
        and t.speaker = 'agent'
        and t.turn_index > alert.turn_index
        and t.turn_index <= alert.turn_index + 3
    group by alert.conversation_id
),

final as (
    select
        alert.conversation_id,
        alert.turn_index as alert_turn_index,
        alert.ts as alert_at,
        conversations.started_date,
        conversations.channel,
        conversations.final_queue_id as queue_id,
        conversations.team_id,
        conversations.agent_id,
        conversations.customer_id,
        alert.emotion,
        round(alert.emotion_confidence, 4) as confidence,
        alert.previous_emotion,
        {{ seconds_between('conversations.started_at', 'alert.ts') }} as seconds_into_conversation,
        -- Escalation rule: anger read with high confidence, or negativity that persists into the
        -- customer's next message, goes to a supervisor; otherwise the agent is prompted.
        (
            alert.emotion = 'angry' and alert.emotion_confidence >= {{ var('emotion_escalate_min_confidence') }}
        ) or coalesce(alert.next_is_negative, false) as escalate,
        case
            when (alert.emotion = 'angry' and alert.emotion_confidence >= {{ var('emotion_escalate_min_confidence') }})
                or coalesce(alert.next_is_negative, false) then 'escalate to supervisor'
            else 'prompt agent'
        end as recommended_action,
        next_agent_turn.empathy_turn_index is not null as agent_showed_empathy,
        next_agent_turn.empathy_turn_index,
        alert.text as alert_text,
        alert.emotion_model_version as model_version
    from turned_negative as alert
    inner join conversations using (conversation_id)
    left join next_agent_turn using (conversation_id)
)

select * from final
