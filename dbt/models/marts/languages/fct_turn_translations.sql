with

translations as (
    {{ current_predictions(source('ml', 'turn_translations'), 'translation', ['conversation_id', 'turn_index']) }}
),

quality as (
    select * from {{ ref('fct_translation_quality') }}
),

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

final as (
    select
        turns.conversation_id,
        turns.turn_index,
        turns.speaker,
        translations.source_language,
        round(translations.language_confidence, 4) as language_confidence,
        translations.target_language,
        translations.translation,
        translations.passed_through,
        coalesce(translations.passed_through or quality.usable, false) as is_readable,
        translations.model_version
    from turns
    inner join translations using (conversation_id, turn_index)
    left join quality
        on quality.source_language = translations.source_language
        and quality.target_language = translations.target_language
)

select * from final
