with

annotations as (
    select * from {{ ref('stg_raw__annotations') }}
),

final as (
    -- Double-blind review: a label counts only when two or more annotators chose it independently.
    select
        conversation_id,
        min(intent) as intent,
        count(distinct annotator) as annotators
    from annotations
    where intent is not null
    group by conversation_id
    having count(distinct annotator) >= 2 and count(distinct intent) = 1
)

select * from final
