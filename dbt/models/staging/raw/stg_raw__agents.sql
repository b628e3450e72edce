with

source as (
    select * from {{ source('raw', 'agents') }}
),

final as (
    select
        agent_id,
        agent_name,
        team_id,
        {{ split_text("coalesce(languages, '')", '|') }} as languages,
        hired_on,
        site
    from source
    qualify row_number() over (partition by agent_id order by {{ latest_first() }}) = 1
)

select * from final
