with

source as (
    select * from {{ source('raw', 'queues') }}
),

final as (
    select
        queue_id,
        queue_name,
        team_id,
        ivr_digit
    from source
    qualify row_number() over (partition by queue_id order by {{ latest_first() }}) = 1
)

select * from final
