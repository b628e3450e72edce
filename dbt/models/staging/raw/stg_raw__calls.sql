with

source as (
    select * from {{ source('raw', 'calls') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (partition by call_id order by _loaded_at desc, _source_file desc, _line desc) = 1
),

final as (
    select
        call_id,
        conversation_id,
        queue_id,
        ivr_path,
        -- The caller's number never leaves staging: a stable key is enough to count repeats.
        md5(coalesce(caller_number, '')) as caller_key,
        started_at,
        coalesce(ring_seconds, 0) as ring_seconds,
        coalesce(wait_seconds, 0) as wait_seconds,
        coalesce(talk_seconds, 0) as talk_seconds,
        coalesce(hold_seconds, 0) as hold_seconds,
        coalesce(wrap_seconds, 0) as wrap_seconds,
        coalesce(transfers, 0) as transfers,
        abandoned as is_abandoned,
        recording_id
    from deduplicated
)

select * from final
