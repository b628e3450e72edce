-- What the last build decided for each learnt model (trained, reused, skipped) and why, with the
-- reviewed labels it had and needed: the pages say "no model trained yet: 40 needed, 12 present"
-- from here. A view: the snapshot copies it when it is published, after every model step ran.
{{ config(materialized='view') }}

with

status as (
    select * from {{ source('ml', 'training_status') }}
),

final as (
    select
        task,
        status,
        reason,
        labels,
        labels_needed,
        model_version,
        -- A model in use was learnt from this company's own reviewed labels (or a user's training file).
        status in ('trained', 'reused', 'user model in use') as has_model,
        checked_at
    from status
)

select * from final
