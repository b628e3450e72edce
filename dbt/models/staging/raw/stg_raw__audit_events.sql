with

source as (
    select * from {{ source('raw', 'audit_events') }}
),

final as (
    -- Dashboard users' actions, not customers' data: user names stay readable for the admins
    -- who review them; the Admin page is the only page that shows this model.
    select
        line_no,
        event_at,
        event,
        user_name,
        detail,
        event = 'unreadable' as unreadable,
        raw_line,
        loaded_at
    from source
)

select * from final
