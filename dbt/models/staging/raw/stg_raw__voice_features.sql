with

source as (
    select * from {{ source('raw', 'voice_features') }}
),

final as (
    select
        recording_id,
        conversation_id,
        turn_index,
        speaker,
        start_offset_s,
        duration_s,
        pitch_mean_hz,
        pitch_var,
        energy_db,
        speaking_rate_sps
    from source
    qualify row_number() over (
        partition by recording_id, turn_index order by {{ latest_first() }}
    ) = 1
)

select * from final
