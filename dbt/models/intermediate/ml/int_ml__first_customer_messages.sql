-- What the conversation-level models read: the customer's first message (PII-masked in staging).
{{ config(materialized='view') }}

with

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

final as (
    select
        conversation_id,
        text
    from turns
    where speaker = 'customer'
    qualify row_number() over (partition by conversation_id order by turn_index) = 1
)

select * from final
