with

conversations as (
    select * from {{ ref('stg_raw__conversations') }}
),

calls as (
    select * from {{ ref('stg_raw__calls') }}
),

surveys as (
    select * from {{ ref('int_surveys__responses') }}
),

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

queues as (
    select * from {{ ref('stg_raw__queues') }}
),

channel_costs as (
    select * from {{ ref('channel_costs') }}
),

call_per_conversation as (
    select *
    from calls
    qualify row_number() over (partition by conversation_id order by started_at nulls last, call_id) = 1
),

survey_per_conversation as (
    -- One answer per contact: the first one the customer gave.
    select *
    from surveys
    qualify row_number() over (partition by conversation_id order by responded_at nulls last, survey_id) = 1
),

turn_summary as (
    select
        conversation_id,
        count(*) as turn_count,
        count(*) filter (where speaker = 'customer') as customer_turn_count,
        sum(pii_items_masked) as pii_items_masked
    from turns
    group by conversation_id
),

next_contact as (
    -- The same customer's next contact on any channel: a repeat means it was not resolved first time.
    select
        conversation_id,
        lead(started_at) over (partition by customer_id order by started_at, conversation_id) as next_contact_at
    from conversations
),

joined as (
    select
        conversations.*,
        entry_queue.team_id as entry_team_id,
        final_queue.team_id as team_id,
        call_per_conversation.call_id,
        call_per_conversation.wait_seconds,
        call_per_conversation.talk_seconds,
        call_per_conversation.hold_seconds,
        call_per_conversation.wrap_seconds,
        -- No call record and no wrap-up code (a chat or ticket export without dispositions): not abandoned.
        coalesce(call_per_conversation.is_abandoned, conversations.disposition = 'abandoned', false) as is_abandoned,
        next_contact.next_contact_at,
        survey_per_conversation.csat,
        survey_per_conversation.nps,
        coalesce(turn_summary.turn_count, 0) as turn_count,
        coalesce(turn_summary.customer_turn_count, 0) as customer_turn_count,
        coalesce(turn_summary.pii_items_masked, 0) as pii_items_masked,
        channel_costs.fixed_cost_per_contact,
        channel_costs.cost_per_handle_minute
    from conversations
    left join queues as entry_queue on conversations.queue_id = entry_queue.queue_id
    left join queues as final_queue on conversations.final_queue_id = final_queue.queue_id
    left join call_per_conversation using (conversation_id)
    left join survey_per_conversation using (conversation_id)
    left join turn_summary using (conversation_id)
    left join next_contact using (conversation_id)
    left join channel_costs on conversations.channel = channel_costs.channel
),

data_end as (
    select max(started_at) as last_contact_at from conversations
),

flagged as (
    select
        joined.*,
        transfer_count > 0 as is_transferred,
        coalesce(next_contact_at <= {{ add_time('started_at', var('fcr_window_days'), 'day') }}, false) as has_repeat_contact,
        -- A repeat can only be ruled out once the whole window lies inside the data, and only a contact
        -- with a wrap-up code can be called resolved: an export without dispositions measures no FCR
        -- (rather than 0%).
        not is_abandoned
            and coalesce(disposition, 'unknown') <> 'unknown'  -- staging writes 'unknown' where the export had none
            and {{ add_time('started_at', var('fcr_window_days'), 'day') }} <= data_end.last_contact_at
            as is_fcr_eligible
    from joined
    cross join data_end
),

final as (
    select
        *,
        is_fcr_eligible and disposition = 'resolved' and not has_repeat_contact as is_first_contact_resolution,
        case
            when is_abandoned then 0.0
            else coalesce(fixed_cost_per_contact, 0) + cast(coalesce(handle_seconds, 0) as double) / 60 * coalesce(cost_per_handle_minute, 0)
        end as contact_cost
    from flagged
)

select * from final
