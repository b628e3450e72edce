with

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

order_lines as (
    select * from {{ ref('stg_raw__orders') }}
),

predicted_intents as (
    select * from {{ ref('fct_conversation_intents') }}
),

reviewed_intents as (
    select * from {{ ref('int_annotations__agreed_intents') }}
),

emotion_alerts as (
    select * from {{ ref('fct_emotion_alerts') }}
),

lead_products as (
    -- A contact about an order concerns its first line: the item the order was placed for.
    select
        order_id,
        product_id
    from order_lines
    qualify row_number() over (partition by order_id order by line_number) = 1
),

final as (
    select
        conversations.conversation_id,
        conversations.started_at,
        conversations.channel,
        customers.city,
        conversations.order_id,
        lead_products.product_id,
        -- The current model's reading covers every contact it scored; reviewers' agreed label
        -- fills in where the model has not scored the contact (yet); before any model is
        -- trained, the taxonomy's zero-shot reading does (a graph on day one).
        coalesce(predicted_intents.predicted_intent, reviewed_intents.intent, predicted_intents.zero_shot_intent)
            as intent,
        case
            when predicted_intents.predicted_intent is not null then 'predicted'
            when reviewed_intents.intent is not null then 'reviewed'
            when predicted_intents.zero_shot_intent is not null then 'zero-shot'
        end as intent_source,
        conversations.entry_team_id,
        conversations.team_id,
        conversations.entry_team_id <> conversations.team_id as is_transferred_to_other_team,
        coalesce(emotion_alerts.escalate, false) as is_escalated_to_supervisor,
        conversations.is_abandoned
    from conversations
    left join customers
        on conversations.customer_id = customers.customer_id
    left join lead_products
        on conversations.order_id = lead_products.order_id
    left join predicted_intents
        on conversations.conversation_id = predicted_intents.conversation_id
    left join reviewed_intents
        on conversations.conversation_id = reviewed_intents.conversation_id
    left join emotion_alerts
        on conversations.conversation_id = emotion_alerts.conversation_id
)

select * from final
