with

source as (
    select * from {{ source('raw', 'translation_memory') }}
),

final as (
    select
        segment_id,
        language,
        text
    from source
    where trim(text) != ''
    qualify row_number() over (partition by segment_id, language order by {{ latest_first() }}) = 1
)

select * from final
