with

source as (
    select * from {{ source('raw', 'quarantine') }}
),

final as (
    select
        source as source_name,
        source_file,
        line,
        reason,
        -- Rejected records can hold anything, PII included: mask before anyone looks.
        {{ mask_pii('raw_record') }} as record_masked,
        quarantined_at
    from source
)

select * from final
