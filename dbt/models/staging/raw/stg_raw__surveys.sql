with

source as (
    select * from {{ source('raw', 'surveys') }}
),

final as (
    select
        survey_id,
        conversation_id,
        responded_at,
        csat,
        nps
    from source
    qualify row_number() over (partition by survey_id order by {{ latest_first() }}) = 1
)

select * from final
