with

source as (
    select * from {{ source('raw', '_load_manifest') }}
),

final as (
    select
        source as source_name,
        source_file,
        file_sha256,
        size_bytes,
        rows_in,
        rows_loaded,
        rows_quarantined,
        status,
        note,
        loaded_at,
        -- CSV and JSON Lines: physical_lines = header_lines + blank_lines + rows_in + continuation_lines.
        physical_lines,
        header_lines,
        blank_lines,
        continuation_lines
    from source
)

select * from final
