with

events as (
    select * from {{ ref('stg_raw__audit_events') }}
),

final as (
    select
        line_no,
        event_at,
        event,
        user_name,
        detail,
        unreadable,
        raw_line,
        loaded_at
    from events
)

select * from final
