-- The products worth offering in each recent conversation: for every contact in the last
-- `value_recent_days` days (counted back from the latest contact in the warehouse, so a
-- replayed or simulated history works the same as a live one), the rules whose left side the
-- customer's history up to that contact satisfies, the product on their right side that the
-- customer does not own, and what offering it is worth: confidence x list price.
with

conversations as (
    select * from {{ ref('fct_conversations') }}
),

facts as (
    select * from {{ ref('int_value__customer_facts') }}
),

rules as (
    select * from {{ ref('fct_association_rules') }}
),

products as (
    select * from {{ ref('stg_raw__products') }}
),

window_end as (
    select max(started_at) as as_of from conversations
),

recent_conversations as (
    select
        conversations.conversation_id,
        conversations.customer_id,
        conversations.started_at,
        conversations.started_date,
        conversations.channel,
        conversations.disposition,
        conversations.disposition <> 'resolved' as is_open
    from conversations
    cross join window_end
    where conversations.customer_id is not null
        and conversations.started_at
            > {{ add_time('window_end.as_of', -(var('value_recent_days') | int), 'day') }}
),

history as (
    -- What was known about the customer when the contact started (its own intent and order
    -- are stamped with its start, so they count).
    select
        recent_conversations.conversation_id,
        list(distinct facts.item) as known_items
    from recent_conversations
    inner join facts
        on facts.customer_id = recent_conversations.customer_id
        and facts.first_observed_at <= recent_conversations.started_at
    group by recent_conversations.conversation_id
),

owned as (
    -- Everything the customer has ever bought, so no offer is for something they own.
    select distinct
        customer_id,
        fact_value as product_id
    from facts
    where fact_kind = 'bought'
),

single_product_rules as (
    select
        rule_id,
        basket_kind,
        antecedents,
        antecedent_customer_items,
        consequent_product_ids[1] as product_id,
        confidence,
        lift
    from rules
    where consequent_size = 1
        and len(consequent_product_ids) = 1
),

matches as (
    select
        recent_conversations.conversation_id,
        recent_conversations.customer_id,
        single_product_rules.product_id,
        single_product_rules.rule_id,
        single_product_rules.basket_kind,
        single_product_rules.antecedents as because,
        single_product_rules.confidence,
        single_product_rules.lift
    from recent_conversations
    inner join history using (conversation_id)
    inner join single_product_rules
        on list_has_all(history.known_items, single_product_rules.antecedent_customer_items)
    anti join owned
        on owned.customer_id = recent_conversations.customer_id
        and owned.product_id = single_product_rules.product_id
),

best_rule_per_product as (
    -- Several rules may point at the same product; the most confident one speaks for it.
    select *
    from matches
    qualify row_number() over (
        partition by conversation_id, product_id
        order by confidence desc, lift desc, rule_id
    ) = 1
),

priced as (
    select
        best_rule_per_product.*,
        products.name_en as product_name,
        products.category as product_category,
        products.price,
        best_rule_per_product.confidence * products.price as expected_revenue
    from best_rule_per_product
    inner join products using (product_id)
    where products.price is not null
),

ranked as (
    select
        *,
        row_number() over (
            partition by conversation_id
            order by expected_revenue desc, confidence desc, product_id
        ) as offer_rank
    from priced
),

final as (
    select
        ranked.conversation_id,
        ranked.customer_id,
        recent_conversations.started_at,
        recent_conversations.started_date,
        recent_conversations.channel,
        recent_conversations.disposition,
        recent_conversations.is_open,
        ranked.offer_rank,
        ranked.product_id,
        ranked.product_name,
        ranked.product_category,
        ranked.price,
        ranked.confidence,
        ranked.lift,
        ranked.expected_revenue,
        ranked.rule_id,
        ranked.basket_kind,
        ranked.because
    from ranked
    inner join recent_conversations using (conversation_id)
    where ranked.offer_rank <= {{ var('value_offers_per_conversation') }}
)

select * from final
