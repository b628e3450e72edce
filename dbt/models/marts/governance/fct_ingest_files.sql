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
        physical_lines,
        header_lines,
        blank_lines,
        continuation_lines,
        -- Text files: every physical line is the header, blank, a record's first line or a continuation
        -- of a multi-line record (Parquet and files not read have no lines to account for).
        physical_lines is null
        or physical_lines = header_lines + blank_lines + rows_in + continuation_lines as lines_reconcile,
        status,
        note,
        loaded_at
    from manifest
)

select * from final
