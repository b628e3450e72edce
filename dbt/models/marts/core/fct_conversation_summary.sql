-- One row per conversation with every metric and reading beside it: the export analysts take to their own
-- tools (`service-insight export conversations`, the Conversations page). Times are given in UTC and in the
-- contact centre's business time zone; text is the PII-masked first customer message only.
with

conversations as (
    select * from {{ ref('fct_conversations') }}
),

intents as (
    select * from {{ ref('fct_conversation_intents') }}
),

scorecards as (
    select * from {{ ref('fct_qa_scorecards') }}
),

tickets as (
    select * from {{ ref('fct_tickets') }}
),

readings as (
    select * from {{ ref('fct_turn_readings') }}
),

translations as (
    select * from {{ ref('fct_turn_translations') }}
),

turns as (
    select * from {{ ref('fct_turns') }}
),

calls as (
    select * from {{ ref('fct_calls') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

service_levels as (
    select * from {{ ref('fct_service_levels') }}
),

alerts as (
    select * from {{ ref('fct_emotion_alerts') }}
),

product_mentions as (
    select * from {{ ref('int_kg__product_mentions') }}
),

customer_emotions as (
    select
        conversation_id,
        turn_index,
        emotion,
        is_negative,
        lag(emotion) over (partition by conversation_id order by turn_index) as previous_emotion
    from readings
    where speaker = 'customer' and emotion is not null
),

emotion_paths as (
    -- The customer's emotions in order, a reading repeated on the next message written once.
    select
        conversation_id,
        {{ ordered_text_agg('emotion', ' > ', 'turn_index', condition='previous_emotion is distinct from emotion') }}
            as emotion_path,
        max_by(emotion, turn_index) as last_customer_emotion,
        count(*) filter (where is_negative) as negative_customer_turns
    from customer_emotions
    group by conversation_id
),

first_customer_turns as (
    select
        conversation_id,
        min(turn_index) as turn_index,
        min_by(text, turn_index) as first_customer_message
    from turns
    where speaker = 'customer'
    group by conversation_id
),

language_counts as (
    select
        conversation_id,
        source_language,
        count(*) filter (where speaker = 'customer') as customer_messages,
        count(*) as messages
    from translations
    where source_language <> 'und'
    group by conversation_id, source_language
),

languages as (
    -- The language most of the customer's messages are in (else any message's, else the customer's profile);
    -- a tie goes to the first code in alphabetical order, so every build and engine picks the same one.
    select
        conversation_id,
        max_by(case when customer_messages > 0 then source_language end,
            case when customer_messages > 0 then customer_messages * 1000 - rank_in_alphabet end) as customer_language,
        max_by(source_language, messages * 1000 - rank_in_alphabet) as any_language
    from (
        select
            *,
            row_number() over (partition by conversation_id order by source_language) as rank_in_alphabet
        from language_counts
    ) as ranked
    group by conversation_id
),

ticket_rollup as (
    select
        conversation_id,
        count(*) as ticket_count,
        min_by(ticket_id, created_at) as ticket_id,
        min_by(status, created_at) as ticket_status,
        min_by(priority, created_at) as ticket_priority
    from tickets
    group by conversation_id
),

mentioned_products as (
    -- The catalogue products the conversation's text names (the knowledge graph's product mentions).
    select
        conversation_id,
        {{ ordered_text_agg('product_id', ', ', 'product_id', distinct=true) }} as mentioned_products
    from product_mentions
    group by conversation_id
),

call_rollup as (
    select
        conversation_id,
        sum(talk_seconds) as talk_seconds,
        sum(hold_seconds) as hold_seconds
    from calls
    where conversation_id is not null
    group by conversation_id
),

final as (
    select
        conversations.conversation_id,
        conversations.channel,
        conversations.queue_id,
        conversations.final_queue_id,
        conversations.team_id,
        conversations.agent_id,
        conversations.customer_id,
        {{ business_to_utc('conversations.started_at', var('business_timezone')) }} as started_at_utc,
        {{ business_to_utc('conversations.ended_at', var('business_timezone')) }} as ended_at_utc,
        conversations.started_at as started_at_local,
        conversations.ended_at as ended_at_local,
        conversations.started_date,
        '{{ var("business_timezone") }}' as business_timezone,
        coalesce(languages.customer_language, languages.any_language, customers.language, 'und') as language,
        conversations.ui_locale,
        intents.intent_of_record,
        intents.intent_source,
        intents.confidence as intent_confidence,
        intents.needs_escalation,
        emotion_paths.emotion_path,
        emotion_paths.last_customer_emotion,
        coalesce(emotion_paths.negative_customer_turns, 0) as negative_customer_turns,
        alerts.conversation_id is not null as has_emotion_alert,
        coalesce(alerts.escalate, false) as emotion_alert_escalated,
        scorecards.quality_score,
        scorecards.checks_passed,
        scorecards.checks_applicable,
        {{ join_list('scorecards.failed_dimensions', ', ') }} as failed_dimensions,
        ticket_rollup.ticket_id,
        coalesce(ticket_rollup.ticket_count, 0) as ticket_count,
        ticket_rollup.ticket_status,
        ticket_rollup.ticket_priority,
        conversations.csat,
        conversations.nps,
        conversations.handle_seconds,
        conversations.wait_seconds,
        conversations.first_response_seconds,
        service_levels.first_response_business_seconds,
        service_levels.elapsed_seconds,
        service_levels.elapsed_business_seconds,
        service_levels.resolution_seconds,
        service_levels.resolution_business_seconds,
        service_levels.sla_clock,
        service_levels.first_response_target_seconds,
        service_levels.resolution_target_hours,
        service_levels.first_response_met,
        service_levels.resolution_met,
        service_levels.first_response_met_wall,
        service_levels.first_response_met_business,
        service_levels.resolution_met_wall,
        service_levels.resolution_met_business,
        call_rollup.talk_seconds,
        call_rollup.hold_seconds,
        conversations.transfer_count,
        conversations.is_transferred,
        conversations.is_abandoned,
        conversations.is_fcr_eligible,
        conversations.is_first_contact_resolution,
        conversations.disposition,
        conversations.turn_count,
        conversations.contact_cost,
        first_customer_turns.first_customer_message,
        conversations.pii_items_masked,
        mentioned_products.mentioned_products
    from conversations
    left join intents using (conversation_id)
    left join emotion_paths using (conversation_id)
    left join scorecards using (conversation_id)
    left join ticket_rollup using (conversation_id)
    left join call_rollup using (conversation_id)
    left join first_customer_turns using (conversation_id)
    left join languages using (conversation_id)
    left join customers using (customer_id)
    left join service_levels using (conversation_id)
    left join alerts using (conversation_id)
    left join mentioned_products using (conversation_id)
)

select * from final
