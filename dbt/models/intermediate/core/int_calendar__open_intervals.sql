-- When each queue is open, as UTC intervals, one row per queue and open day: the `business_hours` seed's
-- weekly hours in the business time zone, less the public holidays (with their windows) of the
-- `forecast_country` var. Covers the data's days and `open_hours_days_after` days after (open tickets are
-- timed against them).
{%- set zone = var('business_timezone') %}
with

hours as (
    select * from {{ ref('business_hours') }}
),

holidays as (
    select * from {{ ref('holidays') }}
),

conversations as (
    select * from {{ ref('stg_raw__conversations') }}
),

queues as (
    select * from {{ ref('stg_raw__queues') }}
),

span as (
    select
        coalesce(min(started_date), current_date) - 1 as first_day,
        coalesce(max(cast(coalesce(ended_at, started_at) as date)), current_date)
            + {{ var('open_hours_days_after') }} as last_day
    from conversations
),

days as (
    select
        cast(generated.day as date) as day,
        {{ iso_weekday('generated.day') }} as weekday
    {{ from_with_days('span', 'span.first_day', 'span.last_day', 'generated', 'day') }}
),

conversation_queues as (
    select queue_id from conversations
    union all
    select final_queue_id as queue_id from conversations
),

known_queues as (
    -- The roster's queues and any a contact names (entry or final), so every contact has its hours.
    select queue_id from queues
    union
    select queue_id from conversation_queues where queue_id is not null
),

queue_hours as (
    -- A queue's own rows, else the "*" rows; "*" itself for contacts with no queue.
    select known_queues.queue_id, hours.weekday, hours.opens_at, hours.closes_at
    from known_queues
    inner join hours on hours.queue_id = known_queues.queue_id
    union all
    select known_queues.queue_id, hours.weekday, hours.opens_at, hours.closes_at
    from known_queues
    inner join hours on hours.queue_id = '*'
    where known_queues.queue_id not in (select queue_id from hours)
    union all
    select '*' as queue_id, weekday, opens_at, closes_at
    from hours
    where queue_id = '*'
),

shifts as (
    select
        queue_id,
        weekday,
        cast(split_part(opens_at, ':', 1) as integer) * 60 + cast(split_part(opens_at, ':', 2) as integer)
            as open_minute,
        cast(split_part(closes_at, ':', 1) as integer) * 60 + cast(split_part(closes_at, ':', 2) as integer)
            as close_minute
    from queue_hours
),

holiday_days as (
    select
        holiday_date,
        {{ unnest_range('lower_window', 'upper_window') }} as offset_days
    from holidays
    where kind = 'public'
        and country = upper('{{ var("forecast_country") }}')
),

closed_days as (
    select distinct holiday_date + cast(offset_days as integer) as day
    from holiday_days
),

final as (
    select
        shifts.queue_id,
        days.day,
        {{ business_to_utc(add_time('days.day', 'shifts.open_minute', 'minute'), zone) }} as opens_utc,
        {{ business_to_utc(add_time('days.day', 'shifts.close_minute'
            ' + case when shifts.close_minute <= shifts.open_minute then 1440 else 0 end', 'minute'), zone) }} as closes_utc
    from days
    inner join shifts on shifts.weekday = days.weekday
    where days.day not in (select day from closed_days)
)

select * from final
