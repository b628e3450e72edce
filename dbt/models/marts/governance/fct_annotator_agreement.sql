-- Double-blind review quality: of the records two or more annotators labelled independently,
-- how often they agreed, per kind of label and per label. Agreement below what the team
-- expects means the guideline or the taxonomy needs work before the labels train a model.
with

annotations as (
    select * from {{ ref('stg_raw__annotations') }}
),

turn_labels as (
    select * from {{ ref('stg_raw__turn_labels') }}
),

labelled as (
    select
        'intent' as label_kind,
        conversation_id as record_id,
        annotator,
        intent as label
    from annotations
    where intent is not null
    union all
    select
        label_kind,
        conversation_id || '#' || turn_index as record_id,
        annotator,
        label
    from turn_labels
    where label is not null
),

records as (
    select
        label_kind,
        record_id,
        count(distinct annotator) as annotators,
        count(distinct label) = 1 as agreed,
        -- The label the record counts under: the agreed one, else the most common first choice.
        mode(label) as label
    from labelled
    group by label_kind, record_id
    having count(distinct annotator) >= 2
),

final as (
    select
        label_kind,
        label,
        count(*) as double_reviewed,
        count(*) filter (where agreed) as agreed,
        count(*) filter (where agreed) / count(*) as agreement_rate
    from records
    group by label_kind, label
)

select * from final
