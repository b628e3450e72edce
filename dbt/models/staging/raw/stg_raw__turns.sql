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
        order by {{ latest_first() }}
    ) = 1
),

conversation_customer as (
    select
        conversation_id,
        customer_id
    from conversations
    qualify row_number() over (partition by conversation_id order by {{ latest_first() }}) = 1
),

latest_customers as (
    -- One row per customer even when several CRM snapshots are loaded (no fan-out of turns).
    select
        customer_id,
        full_name,
        given_name,
        family_name
    from customers
    qualify row_number() over (partition by customer_id order by {{ latest_first() }}) = 1
),

with_names as (
    -- The CRM names the customer; nothing else can tell a name from a word.
    select
        deduplicated.*,
        latest_customers.full_name,
        latest_customers.given_name,
        latest_customers.family_name
    from deduplicated
    left join conversation_customer using (conversation_id)
    left join latest_customers using (customer_id)
),

recognised as (
    -- The recognisers see each distinct text once: greetings and stock replies repeat across
    -- conversations (a third of the texts of the sample are distinct), and they are the costly part.
    select
        text,
        {{ mask_pii('text') }} as masked_text
    from (select distinct text from deduplicated where text is not null)
),

masked as (
    select
        with_names.conversation_id,
        with_names.turn_index,
        with_names.speaker,
        with_names.ts,
        -- Recognisers first (an e-mail such as ada.l@... must go whole), then the CRM's names.
        {{ mask_names('recognised.masked_text', 'with_names.full_name', 'with_names.given_name',
                      'with_names.family_name') }} as text
    from with_names
    left join recognised on with_names.text = recognised.text
),

final as (
    select
        conversation_id,
        turn_index,
        speaker,
        ts,
        text,
        length(text) as text_length,
        {{ list_size(re_extract_all('text', "'" ~ pii_token_pattern() ~ "'")) }} as pii_items_masked
    from masked
)

select * from final
