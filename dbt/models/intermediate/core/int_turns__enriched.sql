with

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

emotions as (
    {{ current_predictions(source('ml', 'turn_emotions'), 'emotion', ['conversation_id', 'turn_index']) }}
),

acts as (
    {{ current_predictions(source('ml', 'turn_acts'), 'quality_act', ['conversation_id', 'turn_index']) }}
),

customer_order as (
    -- Position of each customer turn among the customer's turns: first and last matter to the
    -- alert and quality rules ("turns negative mid-conversation").
    select
        conversation_id,
        turn_index,
        row_number() over (partition by conversation_id order by turn_index) as customer_turn_number,
        count(*) over (partition by conversation_id) as customer_turns
    from turns
    where speaker = 'customer'
),

final as (
    select
        turns.conversation_id,
        turns.turn_index,
        turns.speaker,
        turns.ts,
        turns.text,
        {{ seconds_between('lag(turns.ts) over ( partition by turns.conversation_id order by turns.turn_index)', 'turns.ts') }} as seconds_since_previous,
        customer_order.customer_turn_number,
        customer_order.customer_turns,
        emotions.emotion,
        emotions.confidence as emotion_confidence,
        emotions.emotion in ('angry', 'anxious') as is_negative,
        emotions.model_version as emotion_model_version,
        acts.act,
        acts.confidence as act_confidence,
        acts.model_version as act_model_version
    from turns
    left join emotions
        on turns.speaker = 'customer'
        and turns.conversation_id = emotions.conversation_id
        and turns.turn_index = emotions.turn_index
    left join acts
        on turns.speaker = 'agent'
        and turns.conversation_id = acts.conversation_id
        and turns.turn_index = acts.turn_index
    left join customer_order
        on turns.conversation_id = customer_order.conversation_id
        and turns.turn_index = customer_order.turn_index
)

select * from final
