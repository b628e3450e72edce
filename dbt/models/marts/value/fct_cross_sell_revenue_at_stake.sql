-- What the current cross-sell offers are worth, in one row: the expected revenue of each
-- customer's top offer (and of their top three), summed. A customer with several recent
-- contacts counts once, through their latest one, so the figure is not inflated by repeats.
with

opportunities as (
    select * from {{ ref('fct_cross_sell_opportunities') }}
),

conversations as (
    select * from {{ ref('fct_conversations') }}
),

window_bounds as (
    select
        max(started_at) as as_of,
        {{ add_time('max(started_at)', -(var('value_recent_days') | int), 'day') }} as window_start
    from conversations
),

recent as (
    select
        count(*) as recent_conversations,
        count(distinct customer_id) as recent_customers
    from conversations
    cross join window_bounds
    where conversations.started_at > window_bounds.window_start
),

latest_offers as (
    -- Each customer's offers from their latest contact that has any.
    select *
    from opportunities
    qualify dense_rank() over (
        partition by customer_id
        order by started_at desc, conversation_id desc
    ) = 1
),

per_customer as (
    select
        customer_id,
        max(expected_revenue) filter (where offer_rank = 1) as top_offer_revenue,
        sum(expected_revenue) as top_offers_revenue
    from latest_offers
    group by customer_id
),

totals as (
    select
        count(*) as customers_with_offer,
        coalesce(sum(top_offer_revenue), 0) as revenue_at_stake,
        coalesce(sum(top_offers_revenue), 0) as revenue_at_stake_all_offers
    from per_customer
),

final as (
    select
        cast(window_bounds.as_of as date) as as_of_date,
        cast({{ var('value_recent_days') }} as integer) as window_days,
        cast({{ var('value_offers_per_conversation') }} as integer) as offers_per_conversation,
        recent.recent_conversations,
        recent.recent_customers,
        (select count(distinct conversation_id) from opportunities) as conversations_with_offer,
        totals.customers_with_offer,
        round(totals.revenue_at_stake, 2) as revenue_at_stake,
        round(totals.revenue_at_stake_all_offers, 2) as revenue_at_stake_all_offers
    from window_bounds
    cross join recent
    cross join totals
)

select * from final
