-- Every human label, one row per (record, reviewer): what the Review page needs to know which records a
-- reviewer has done, which are waiting for a second blind label, and which two reviewers disagree on
-- (adjudication). Reviewer names are logins, not customer data.
with

annotations as (
    select * from {{ ref('stg_raw__annotations') }}
),

turn_labels as (
    select * from {{ ref('stg_raw__turn_labels') }}
),

final as (
    select
        'intent' as label_kind,
        conversation_id,
        cast(null as integer) as turn_index,
        annotator,
        intent as label,
        adjudicated,
        labelled_at
    from annotations
    where intent is not null
    union all
    select
        label_kind,
        conversation_id,
        turn_index,
        annotator,
        label,
        adjudicated,
        labelled_at
    from turn_labels
)

select * from final
