with

readings as (
    select * from {{ ref('int_turns__enriched') }}
),

conversations as (
    select * from {{ ref('stg_raw__conversations') }}
),

final as (
    select
        readings.conversation_id,
        readings.turn_index,
        readings.speaker,
        conversations.started_date,
        conversations.channel,
        readings.emotion,
        round(readings.emotion_confidence, 4) as emotion_confidence,
        readings.is_negative,
        readings.act,
        round(readings.act_confidence, 4) as act_confidence,
        readings.emotion_model_version,
        readings.act_model_version
    from readings
    left join conversations using (conversation_id)
)

select * from final
