-- What the agent-turn models read: every agent turn's (PII-masked) text.
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
    where speaker = 'agent'
)

select * from final
