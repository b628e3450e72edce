with

enriched as (
    select * from {{ ref('int_conversations__enriched') }}
),

final as (
    select
        conversation_id,
        channel,
        started_at,
        ended_at,
        started_date,
        hour(started_at) as started_hour,
        {{ iso_weekday('started_at') }} as started_weekday,
        customer_id,
        agent_id,
        queue_id,
        final_queue_id,
        entry_team_id,
        team_id,
        ui_locale,
        order_id,
        disposition,
        is_abandoned,
        is_transferred,
        transfer_count,
        has_repeat_contact,
        is_fcr_eligible,
        is_first_contact_resolution,
        handle_seconds,
        first_response_seconds,
        wait_seconds,
        turn_count,
        customer_turn_count,
        pii_items_masked,
        csat,
        nps,
        round(contact_cost, 4) as contact_cost
    from enriched
)

select * from final
