with

source as (
    select * from {{ source('raw', 'orders') }}
),

final as (
    select
        order_id,
        line_number,
        customer_id,
        ordered_at,
        cast(ordered_at as date) as ordered_date,
        product_id,
        coalesce(quantity, 1) as quantity,
        unit_price,
        coalesce(quantity, 1) * unit_price as line_amount
    from source
    qualify row_number() over (
        partition by order_id, line_number order by {{ latest_first() }}
    ) = 1
)

select * from final
