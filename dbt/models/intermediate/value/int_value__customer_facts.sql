-- What each customer bought, asked about and why they contacted us, one row per fact with the
-- time it became known: the per-customer baskets of the rules, and the history cross-sell
-- offers are matched against (only facts known by the time of the conversation).
with

orders as (
    select * from {{ ref('stg_raw__orders') }}
),

conversations as (
    select * from {{ ref('fct_conversations') }}
),

intents as (
    select * from {{ ref('fct_conversation_intents') }}
),

lead_products as (
    -- The product a contact is about: its order's first line.
    select
        order_id,
        product_id
    from orders
    where product_id is not null
    qualify row_number() over (partition by order_id order by line_number) = 1
),

bought as (
    select
        customer_id,
        'bought' as fact_kind,
        product_id as fact_value,
        ordered_at as observed_at
    from orders
    where customer_id is not null
        and product_id is not null
),

asked as (
    select
        conversations.customer_id,
        'asked' as fact_kind,
        lead_products.product_id as fact_value,
        conversations.started_at as observed_at
    from conversations
    inner join lead_products using (order_id)
    where conversations.customer_id is not null
),

raised as (
    select
        conversations.customer_id,
        'intent' as fact_kind,
        intents.intent_of_record as fact_value,
        conversations.started_at as observed_at
    from conversations
    inner join intents using (conversation_id)
    where conversations.customer_id is not null
        and intents.intent_of_record is not null
),

facts as (
    select * from bought
    union all
    select * from asked
    union all
    select * from raised
),

final as (
    -- A fact seen several times counts once, at its first sighting.
    select
        customer_id,
        fact_kind,
        fact_value,
        fact_kind || ':' || fact_value as item,
        min(observed_at) as first_observed_at
    from facts
    group by
        customer_id,
        fact_kind,
        fact_value
)

select * from final
