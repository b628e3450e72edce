with

quarantine as (
    select * from {{ ref('stg_raw__quarantine') }}
),

final as (
    select
        source_name,
        source_file,
        line,
        reason,
        record_masked,
        quarantined_at
    from quarantine
)

select * from final
