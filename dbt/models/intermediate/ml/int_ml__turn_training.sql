-- The turn models' training labels: each turn's text with the label reviewers agreed on (emotion, act).
{{ config(materialized='view') }}

with

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

agreed as (
    select * from {{ ref('int_turn_labels__agreed') }}
),

final as (
    select
        agreed.conversation_id,
        agreed.turn_index,
        turns.speaker,
        agreed.label_kind,
        turns.text,
        agreed.label
    from agreed
    inner join turns
        on agreed.conversation_id = turns.conversation_id
        and agreed.turn_index = turns.turn_index
)

select * from final
