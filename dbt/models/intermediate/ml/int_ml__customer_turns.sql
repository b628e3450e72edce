-- What the customer-turn models read: every customer turn's (PII-masked) text.
{{ config(materialized='view') }}

with

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

final as (
    select
        conversation_id,
        turn_index,
        text
    from turns
    where speaker = 'customer'
)

select * from final
