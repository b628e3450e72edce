with

source as (
    select * from {{ source('raw', 'teams') }}
),

final as (
    select
        team_id,
        team_name,
        category
    from source
    qualify row_number() over (partition by team_id order by {{ latest_first() }}) = 1
)

select * from final
