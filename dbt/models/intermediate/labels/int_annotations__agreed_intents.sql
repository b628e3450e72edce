with

annotations as (
    select * from {{ ref('stg_raw__annotations') }}
),

adjudicated as (
    -- A supervisor's decision on a conversation the reviewers disagreed on: the latest one stands.
    select
        conversation_id,
        max_by(intent, coalesce(labelled_at, timestamp '1970-01-01')) as intent,
        count(distinct annotator) as annotators
    from annotations
    where coalesce(adjudicated, false) and intent is not null
    group by conversation_id
),

voted as (
    -- Double-blind review: a label counts only when two or more annotators chose it independently.
    select
        conversation_id,
        min(intent) as intent,
        count(distinct annotator) as annotators
    from annotations
    where intent is not null and not coalesce(adjudicated, false)
    group by conversation_id
    having count(distinct annotator) >= 2 and count(distinct intent) = 1
),

final as (
    select conversation_id, intent, annotators, 'adjudicated' as decided_by
    from adjudicated
    union all
    select conversation_id, intent, annotators, 'agreement' as decided_by
    from voted
    where conversation_id not in (select conversation_id from adjudicated)
)

select * from final
