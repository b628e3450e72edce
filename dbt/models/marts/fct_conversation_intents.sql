with

predictions as (
    select * from {{ source('ml', 'intent_predictions') }}
),

model_runs as (
    select * from {{ source('ml', 'ml_model_runs') }}
),

conversations as (
    select * from {{ ref('stg_raw__conversations') }}
),

reviewed as (
    select
        conversation_id,
        intent as reviewed_intent
    from {{ ref('int_annotations__agreed_intents') }}
),

current_version as (
    select model_version
    from model_runs
    where task = 'intent' and is_current
),

current_predictions as (
    -- One reading per conversation: the current version's, or, until it has scored a
    -- conversation, the latest earlier one (so the mart never empties between two steps).
    select predictions.*
    from predictions
    left join current_version as cv on predictions.model_version = cv.model_version
    qualify row_number() over (
        partition by predictions.conversation_id
        order by cv.model_version is not null desc, predictions.scored_at desc, predictions.model_version desc
    ) = 1
),

final as (
    select
        conversations.conversation_id,
        conversations.started_date,
        conversations.channel,
        conversations.final_queue_id as queue_id,
        current_predictions.intent as predicted_intent,
        current_predictions.confidence,
        current_predictions.escalate as needs_escalation,
        current_predictions.model_version,
        reviewed.reviewed_intent,
        reviewed.reviewed_intent = current_predictions.intent as matches_review
    from conversations
    inner join current_predictions using (conversation_id)
    left join reviewed using (conversation_id)
)

select * from final
