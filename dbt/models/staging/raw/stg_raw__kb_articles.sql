with

source as (
    select * from {{ source('raw', 'kb_articles') }}
),

final as (
    select
        article_id,
        language,
        intent,
        title,
        body,
        policy_id,
        policy_name,
        team_id
    from source
    qualify row_number() over (partition by article_id order by {{ latest_first() }}) = 1
)

select * from final
