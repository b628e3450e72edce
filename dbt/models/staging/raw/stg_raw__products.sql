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
    qualify row_number() over (partition by product_id order by _loaded_at desc, _source_file desc, _line desc) = 1
)

select * from final
