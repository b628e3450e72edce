-- Offered contacts per hour, channel and entry queue: the demand the forecasts learn from.
-- Abandoned calls count: a caller who hung up in the queue was demand the roster did not meet.

with

conversations as (
    select * from {{ ref('fct_conversations') }}
),

hourly as (
    select
        date_trunc('hour', started_at) as period_start,
        channel,
        coalesce(queue_id, 'unknown') as queue_id,
        count(*) as offered_contacts,
        count(*) filter (where is_abandoned) as abandoned_contacts,
        count(*) filter (where not is_abandoned) as handled_contacts,
        cast(sum(handle_seconds) filter (where not is_abandoned) as bigint) as total_handle_seconds,
        count(handle_seconds) filter (where not is_abandoned) as timed_contacts
    from conversations
    where started_at is not null
    group by all
),

final as (
    select
        period_start,
        cast(period_start as date) as period_date,
        cast(hour(period_start) as bigint) as period_hour,
        channel,
        queue_id,
        offered_contacts,
        abandoned_contacts,
        handled_contacts,
        total_handle_seconds,
        timed_contacts
    from hourly
)

select * from final
