with

calls as (
    select * from {{ ref('stg_raw__calls') }}
),

queues as (
    select * from {{ ref('stg_raw__queues') }}
),

final as (
    select
        calls.call_id,
        calls.conversation_id,
        calls.queue_id,
        queues.team_id,
        calls.ivr_path,
        calls.caller_key,
        calls.started_at,
        cast(calls.started_at as date) as call_date,
        calls.ring_seconds,
        calls.wait_seconds,
        calls.talk_seconds,
        calls.hold_seconds,
        calls.wrap_seconds,
        calls.talk_seconds + calls.hold_seconds + calls.wrap_seconds as handle_seconds,
        calls.transfers,
        calls.is_abandoned,
        calls.recording_id
    from calls
    left join queues using (queue_id)
)

select * from final
