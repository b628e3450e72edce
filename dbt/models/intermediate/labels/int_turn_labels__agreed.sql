with

turn_labels as (
    select * from {{ ref('stg_raw__turn_labels') }}
),

final as (
    -- Double-blind review at turn level: a label counts only when two or more reviewers chose it.
    select
        conversation_id,
        turn_index,
        label_kind,
        min(label) as label,
        count(distinct annotator) as annotators
    from turn_labels
    group by conversation_id, turn_index, label_kind
    having count(distinct annotator) >= 2 and count(distinct label) = 1
)

select * from final
