with

source as (
    select * from {{ source('raw', 'turn_labels') }}
),

final as (
    select
        label_id,
        conversation_id,
        turn_index,
        annotator,
        label_kind,
        label,
        labelled_at,
        coalesce(adjudicated, false) as adjudicated
    from source
    qualify row_number() over (partition by label_id order by {{ latest_first() }}) = 1
)

select * from final
