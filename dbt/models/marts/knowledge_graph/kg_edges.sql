with

products as (
    select * from {{ ref('stg_raw__products') }}
),

kb_articles as (
    select * from {{ ref('stg_raw__kb_articles') }}
),

agents as (
    select * from {{ ref('stg_raw__agents') }}
),

order_lines as (
    select * from {{ ref('stg_raw__orders') }}
),

conversation_facts as (
    select * from {{ ref('int_kg__conversation_facts') }}
),

product_mentions as (
    select * from {{ ref('int_kg__product_mentions') }}
),

contacts_with_intent as (
    select *
    from conversation_facts
    where intent is not null
),

contacted_order_lines as (
    -- Only orders that contacts are about are nodes; their lines say what they hold.
    select *
    from order_lines
    where order_id in (select order_id from conversation_facts where order_id is not null)
),

order_baskets as (
    select distinct
        order_id as basket_id,
        product_id,
        ordered_at as seen_at
    from order_lines
),

conversation_baskets as (
    select distinct
        conversation_id as basket_id,
        product_id,
        min(ts) over (partition by conversation_id) as seen_at
    from product_mentions
),

baskets as (
    select * from order_baskets
    union all
    select * from conversation_baskets
),

basket_pairs as (
    -- Bought in one order or named in one conversation. Symmetric: stored once, from the
    -- lower product id; traversal reads edges both ways.
    select
        first_item.basket_id,
        first_item.seen_at,
        first_item.product_id as first_product_id,
        second_item.product_id as second_product_id
    from baskets as first_item
    inner join baskets as second_item
        on first_item.basket_id = second_item.basket_id
        and first_item.product_id < second_item.product_id
),

unioned as (
    -- catalogue and orders -------------------------------------------------------------------
    {{ kg_edge('product', 'product_id', 'in_category', 'product_category', 'category',
        from='products', where='category is not null', evidence='product_id') }}
    union all
    {{ kg_edge('order', 'order_id', 'contains', 'product', 'product_id',
        from='contacted_order_lines', grouped=true, weight='sum(quantity)', evidence_count='count(*)',
        first_seen='min(ordered_at)', last_seen='max(ordered_at)', evidence='order_id') }}
    union all
    {{ kg_edge('product', 'first_product_id', 'mentioned_with', 'product', 'second_product_id',
        from='basket_pairs', grouped=true, weight='count(distinct basket_id)',
        evidence_count='count(distinct basket_id)', first_seen='min(seen_at)', last_seen='max(seen_at)',
        evidence='max(basket_id)') }}
    union all
    -- knowledge base -------------------------------------------------------------------------
    {{ kg_edge('intent', 'intent', 'resolved_by', 'kb_article', 'article_id',
        from='kb_articles', where='intent is not null', evidence='article_id') }}
    union all
    {{ kg_edge('kb_article', 'article_id', 'applies', 'policy', 'policy_id',
        from='kb_articles', where='policy_id is not null', evidence='article_id') }}
    union all
    -- The team that owns the intent's articles.
    {{ kg_edge('intent', 'intent', 'handled_by', 'team', 'team_id',
        from='kb_articles', where='intent is not null and team_id is not null', grouped=true,
        weight='count(*)', evidence_count='count(*)', evidence='min(article_id)') }}
    union all
    -- what contacts show ---------------------------------------------------------------------
    -- The product of the contact's order and the contact's intent.
    {{ kg_contact_edge('product', 'product_id', 'has_issue', 'intent', 'intent', where='product_id is not null') }}
    union all
    -- Transfers: the contact entered one team's queue and another team handled it.
    {{ kg_contact_edge('intent', 'intent', 'escalates_to', 'team', 'team_id', where='is_transferred_to_other_team') }}
    union all
    -- The emotion rule sent the contact to a supervisor.
    {{ kg_contact_edge('intent', 'intent', 'escalates_to', 'role', "'supervisor'",
        where='is_escalated_to_supervisor') }}
    union all
    {{ kg_contact_edge('team', 'entry_team_id', 'transfers_to', 'team', 'team_id',
        from='conversation_facts', where='is_transferred_to_other_team') }}
    union all
    {{ kg_contact_edge('city', 'city', 'contacts_about', 'intent', 'intent', where="trim(coalesce(city, '')) <> ''") }}
    union all
    {{ kg_contact_edge('role', "'customer'", 'raises', 'intent', 'intent') }}
    union all
    -- How many agents work in each team; who they are stays out of the graph.
    {{ kg_edge('role', "'agent'", 'member_of', 'team', 'team_id',
        from='agents', where='team_id is not null', grouped=true, weight='count(*)', evidence_count='count(*)') }}
),

final as (
    select
        source_id::string as source_id,
        relation::string as relation,
        target_id::string as target_id,
        weight::double as weight,
        evidence_count::bigint as evidence_count,
        first_seen::timestamp as first_seen,
        last_seen::timestamp as last_seen,
        evidence::string as evidence
    from unioned
)

select * from final
