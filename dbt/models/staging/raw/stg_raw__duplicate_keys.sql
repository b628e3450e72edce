with

source as (
    select * from {{ source('raw', 'duplicate_keys') }}
),

final as (
    -- One row per record version the staging models drop (macro latest_first): a key that
    -- arrived twice is legal, but which copy counts must be visible, not an accident.
    select
        source as source_name,
        natural_key,
        source_file,
        line,
        file_modified_at,
        kept_file,
        kept_line,
        versions,
        source_file <> kept_file as across_files
    from source
)

select * from final
