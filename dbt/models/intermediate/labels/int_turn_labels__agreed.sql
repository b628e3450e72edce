with

turn_labels as (
    select * from {{ ref('stg_raw__turn_labels') }}
),

adjudicated as (
    -- A supervisor's decision on a turn the reviewers disagreed on: the latest one stands.
    select
        conversation_id,
        turn_index,
        label_kind,
        max_by(label, coalesce(labelled_at, timestamp '1970-01-01')) as label,
        count(distinct annotator) as annotators
    from turn_labels
    where coalesce(adjudicated, false)
    group by conversation_id, turn_index, label_kind
),

voted as (
    -- Double-blind review at turn level: a label counts only when two or more reviewers chose it.
    select
        conversation_id,
        turn_index,
        label_kind,
        min(label) as label,
        count(distinct annotator) as annotators
    from turn_labels
    where not coalesce(adjudicated, false)
    group by conversation_id, turn_index, label_kind
    having count(distinct annotator) >= 2 and count(distinct label) = 1
),

final as (
    select conversation_id, turn_index, label_kind, label, annotators, 'adjudicated' as decided_by
    from adjudicated
    union all
    select voted.conversation_id, voted.turn_index, voted.label_kind, voted.label, voted.annotators,
        'agreement' as decided_by
    from voted
    anti join adjudicated using (conversation_id, turn_index, label_kind)
)

select * from final
