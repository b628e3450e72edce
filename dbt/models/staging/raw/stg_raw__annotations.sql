with

source as (
    select * from {{ source('raw', 'annotations') }}
),

final as (
    select
        annotation_id,
        conversation_id,
        annotator,
        intent,
        emotion,
        resolved,
        labelled_at,
        coalesce(adjudicated, false) as adjudicated
    from source
    qualify row_number() over (partition by annotation_id order by {{ latest_first() }}) = 1
)

select * from final
