-- The intent model's training labels: the first customer message with the intent two annotators agreed on.
{{ config(materialized='view') }}

with

first_messages as (
    select * from {{ ref('int_ml__first_customer_messages') }}
),

agreed as (
    select * from {{ ref('int_annotations__agreed_intents') }}
),

final as (
    select
        first_messages.conversation_id,
        first_messages.text,
        agreed.intent as label
    from agreed
    inner join first_messages on agreed.conversation_id = first_messages.conversation_id
)

select * from final
