with

source as (
    select * from {{ source('raw', 'quarantine') }}
),

final as (
    select
        source as source_name,
        source_file,
        line,
        -- Rejected records and the values quoted in reasons can hold anything, PII included; a reason is
        -- the loader's own words around such values, so the rules mask it, not the name model.
        {{ mask_pii_rules('reason') }} as reason,
        case
            -- CRM records are mostly identity: show only that one was rejected.
            when source = 'customers' then '[customer record withheld]'
            -- A record cut at the size limit may end in part of a number: drop trailing digits.
            else regexp_replace({{ mask_pii('raw_record') }}, '[0-9][0-9 -]{4,}$', '[CUT]')
        end as record_masked,
        quarantined_at
    from source
)

select * from final
