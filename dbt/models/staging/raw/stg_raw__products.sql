with

source as (
    select * from {{ source('raw', 'products') }}
),

final as (
    select
        product_id,
        name_en,
        name_zh,
        category,
        price
    from source
    qualify row_number() over (partition by product_id order by {{ latest_first() }}) = 1
)

select * from final
