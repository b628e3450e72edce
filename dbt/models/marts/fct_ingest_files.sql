with

manifest as (
    select * from {{ ref('stg_raw__load_manifest') }}
),

final as (
    select
        source_name,
        source_file,
        file_sha256,
        size_bytes,
        rows_in,
        rows_loaded,
        rows_quarantined,
        rows_in = rows_loaded + rows_quarantined as counts_reconcile,
        status,
        note,
        loaded_at
    from manifest
)

select * from final
