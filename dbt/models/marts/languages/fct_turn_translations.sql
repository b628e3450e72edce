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
        -- Readable in the pivot language: translated by a usable model, or passed through; but with no
        -- translation model at all (rows 'detect-only') only pivot-language and undetermined turns are.
        coalesce(
            case
                when translations.model_version = 'detect-only'
                    then translations.source_language in (translations.target_language, 'und')
                else translations.passed_through or quality.usable
            end,
            false
        ) as is_readable,
        translations.model_version
    from turns
    inner join translations using (conversation_id, turn_index)
    left join quality
        on quality.source_language = translations.source_language
        and quality.target_language = translations.target_language
)

select * from final
