with

source as (
    select * from {{ source('raw', 'conversations') }}
),

ranked as (
    -- A platform may re-export a conversation; the latest load wins.
    select
        *,
        row_number() over (
            partition by conversation_id
            order by {{ latest_first() }}
        ) as version_rank
    from source
),

final as (
    select
        conversation_id,
        channel,
        started_at,
        ended_at,
        cast(started_at as date) as started_date,
        customer_id,
        agent_id,
        queue_id,
        coalesce(final_queue_id, queue_id) as final_queue_id,
        ui_locale,
        order_id,
        coalesce(disposition, 'unknown') as disposition,
        coalesce(transfer_count, 0) as transfer_count,
        handle_seconds,
        first_response_seconds,
        _source_file as source_file
    from ranked
    where version_rank = 1
)

select * from final
