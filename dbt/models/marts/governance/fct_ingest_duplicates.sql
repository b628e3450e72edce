with

duplicates as (
    select * from {{ ref('stg_raw__duplicate_keys') }}
),

final as (
    select
        source_name,
        natural_key,
        source_file,
        line,
        kept_file,
        kept_line,
        versions,
        across_files
    from duplicates
)

select * from final
