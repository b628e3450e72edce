with

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

conversations as (
    select * from {{ ref('stg_raw__conversations') }}
),

voice as (
    select * from {{ ref('stg_raw__voice_features') }}
),

final as (
    select
        turns.conversation_id,
        turns.turn_index,
        turns.speaker,
        turns.ts,
        {{ seconds_between('conversations.started_at', 'turns.ts') }} as seconds_from_start,
        conversations.channel,
        turns.text,
        turns.text_length,
        turns.pii_items_masked,
        voice.pitch_mean_hz,
        voice.pitch_var,
        voice.energy_db,
        voice.speaking_rate_sps
    from turns
    left join conversations using (conversation_id)
    left join voice
        on turns.conversation_id = voice.conversation_id
        and turns.turn_index = voice.turn_index
)

select * from final
