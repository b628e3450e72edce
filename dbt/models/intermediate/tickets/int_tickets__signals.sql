{#-
  Does a contact need follow-up, and what says so? One row per conversation.

  Evidence, strongest first, each usable on its own so the model works before enrichment:
  an agent turn that opens a ticket (the quality-act model's `ticket`, or a ticket reference read
  out in a turn the model does not call an answer), a wrap-up code that only an open case gets
  (`ticket_created`, `escalated`), the customer's last message read as negative by the emotion
  model (an unresolved contact ends angry or anxious), and, where that reading is missing, the
  closing's words. An agent's ticket and a `follow_up` wrap-up count only when the customer did
  not end satisfied: a customer who leaves happy was helped during the contact (agents open
  tickets and pick `follow_up` for contacts that were in fact settled, as the sample shows).
-#}
{%- set unresolved_regex = var('ticket_unresolved_phrases') | join('|') -%}

with

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

turns as (
    select * from {{ ref('int_turns__enriched') }}
),

agent_moments as (
    select
        turns.conversation_id,
        min(turns.ts) filter (
            where turns.act = 'ticket'
                or (
                    {{ re_matches('turns.text', "'" ~ var("ticket_reference_pattern") ~ "'") }}
                    and (
                        turns.act is distinct from 'solution'
                        -- Before enrichment an answer that cites a reference looks the same:
                        -- trust the wrap-up code instead.
                        and (turns.act is not null or conversations.disposition <> 'resolved')
                    )
                )
        ) as agent_ticket_at,
        min(turns.ts) filter (where turns.act = 'transfer') as transfer_at
    from turns
    inner join conversations on turns.conversation_id = conversations.conversation_id
    where turns.speaker = 'agent'
    group by turns.conversation_id
),

customer_moments as (
    select
        conversation_id,
        min(ts) as first_customer_at,
        max(ts) as last_customer_at,
        max_by(emotion, turn_index) as last_customer_emotion,
        max_by(emotion_confidence, turn_index) as last_customer_emotion_confidence,
        max_by(text, turn_index) as last_customer_text
    from turns
    where speaker = 'customer'
    group by conversation_id
),

joined as (
    select
        conversations.conversation_id,
        conversations.customer_id,
        conversations.channel,
        lower(split_part(conversations.ui_locale, '-', 1)) as language,
        conversations.started_at,
        conversations.ended_at,
        conversations.started_date,
        conversations.final_queue_id as queue_id,
        conversations.entry_team_id,
        conversations.team_id as final_team_id,
        conversations.is_transferred,
        conversations.disposition,
        conversations.is_abandoned,
        customer_moments.first_customer_at,
        customer_moments.last_customer_at,
        customer_moments.last_customer_emotion,
        customer_moments.last_customer_emotion_confidence,
        agent_moments.agent_ticket_at,
        agent_moments.transfer_at,
        coalesce(
            {{ re_matches('customer_moments.last_customer_text', "'(?i)(" ~ unresolved_regex ~ ")'") }}, false
        ) as closing_says_unresolved
    from conversations
    left join customer_moments on conversations.conversation_id = customer_moments.conversation_id
    left join agent_moments on conversations.conversation_id = agent_moments.conversation_id
),

classified as (
    select
        *,
        case
            when is_abandoned then null
            when agent_ticket_at is not null and last_customer_emotion is distinct from 'satisfied'
                then 'agent opened a ticket'
            when disposition in ('ticket_created', 'escalated') then 'wrap-up code'
            when last_customer_emotion in ('angry', 'anxious') then 'customer ended upset'
            when last_customer_emotion is null and closing_says_unresolved then 'closing says unresolved'
            -- `follow_up` alone is weak (agents also pick it for settled contacts): it needs a
            -- reading that the customer did not leave satisfied.
            when disposition = 'follow_up' and last_customer_emotion <> 'satisfied'
                then 'wrap-up code'
        end as ticket_reason
    from joined
),

final as (
    select
        conversation_id,
        customer_id,
        channel,
        language,
        started_at,
        ended_at,
        started_date,
        queue_id,
        entry_team_id,
        final_team_id,
        is_transferred,
        disposition,
        is_abandoned,
        first_customer_at,
        last_customer_at,
        last_customer_emotion,
        last_customer_emotion_confidence,
        agent_ticket_at,
        transfer_at,
        closing_says_unresolved,
        ticket_reason is not null as needs_ticket,
        ticket_reason
    from classified
)

select * from final
