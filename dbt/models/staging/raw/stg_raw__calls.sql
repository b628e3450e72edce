with

source as (
    select * from {{ source('raw', 'calls') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (partition by call_id order by {{ latest_first() }}) = 1
),

final as (
    select
        call_id,
        conversation_id,
        queue_id,
        ivr_path,
        -- The caller's number never leaves staging. A keyed hash (secret SI_PII_KEY, kept out of
        -- the warehouse) lets analysts count repeat callers without being able to reverse it.
        case
            when nullif(trim(caller_number), '') is not null then {{ caller_number_hash('caller_number') }}
        end as caller_key,
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
