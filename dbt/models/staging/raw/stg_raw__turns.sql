with

source as (
    select * from {{ source('raw', 'turns') }}
),

conversations as (
    select * from {{ source('raw', 'conversations') }}
),

customers as (
    select * from {{ source('raw', 'customers') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (
        partition by conversation_id, turn_index
        order by _loaded_at desc, _source_file desc, _line desc
    ) = 1
),

conversation_customer as (
    select distinct on (conversation_id)
        conversation_id,
        customer_id
    from conversations
    order by conversation_id, _loaded_at desc
),

with_names as (
    -- The CRM names the customer; nothing else can tell a name from a word.
    select
        deduplicated.*,
        customers.full_name,
        customers.given_name
    from deduplicated
    left join conversation_customer using (conversation_id)
    left join customers using (customer_id)
),

masked as (
    select
        conversation_id,
        turn_index,
        speaker,
        ts,
        {{ mask_pii(mask_names('text', 'full_name', 'given_name')) }} as text,
        {{ count_pii('text') }}
            + (case when full_name is not null and contains(text, full_name) then 1 else 0 end)
            as pii_items_masked
    from with_names
),

final as (
    select
        conversation_id,
        turn_index,
        speaker,
        ts,
        text,
        length(text) as text_length,
        pii_items_masked
    from masked
)

select * from final
