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

-- catalogue and orders ---------------------------------------------------------------------

in_category as (
    select
        {{ kg_node_id('product', 'product_id') }} as source_id,
        'in_category' as relation,
        {{ kg_node_id('product_category', 'category') }} as target_id,
        1 as weight,
        1 as evidence_count,
        null as first_seen,
        null as last_seen,
        product_id as evidence
    from products
    where category is not null
),

order_contents as (
    -- Only orders that contacts are about are nodes; their lines say what they hold.
    select
        {{ kg_node_id('order', 'order_lines.order_id') }} as source_id,
        'contains' as relation,
        {{ kg_node_id('product', 'order_lines.product_id') }} as target_id,
        sum(order_lines.quantity) as weight,
        count(*) as evidence_count,
        min(order_lines.ordered_at) as first_seen,
        max(order_lines.ordered_at) as last_seen,
        order_lines.order_id as evidence
    from order_lines
    where order_lines.order_id in (select order_id from conversation_facts where order_id is not null)
    group by
        order_lines.order_id,
        order_lines.product_id
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

mentioned_with as (
    -- Bought in one order or named in one conversation. Symmetric: stored once, from the
    -- lower product id; traversal reads edges both ways.
    select
        {{ kg_node_id('product', 'first_item.product_id') }} as source_id,
        'mentioned_with' as relation,
        {{ kg_node_id('product', 'second_item.product_id') }} as target_id,
        count(distinct first_item.basket_id) as weight,
        count(distinct first_item.basket_id) as evidence_count,
        min(first_item.seen_at) as first_seen,
        max(first_item.seen_at) as last_seen,
        max(first_item.basket_id) as evidence
    from baskets as first_item
    inner join baskets as second_item
        on first_item.basket_id = second_item.basket_id
        and first_item.product_id < second_item.product_id
    group by
        first_item.product_id,
        second_item.product_id
),

-- knowledge base ---------------------------------------------------------------------------

resolved_by as (
    select
        {{ kg_node_id('intent', 'intent') }} as source_id,
        'resolved_by' as relation,
        {{ kg_node_id('kb_article', 'article_id') }} as target_id,
        1 as weight,
        1 as evidence_count,
        null as first_seen,
        null as last_seen,
        article_id as evidence
    from kb_articles
    where intent is not null
),

applies as (
    select
        {{ kg_node_id('kb_article', 'article_id') }} as source_id,
        'applies' as relation,
        {{ kg_node_id('policy', 'policy_id') }} as target_id,
        1 as weight,
        1 as evidence_count,
        null as first_seen,
        null as last_seen,
        article_id as evidence
    from kb_articles
    where policy_id is not null
),

handled_by as (
    -- The team that owns the intent's articles.
    select
        {{ kg_node_id('intent', 'intent') }} as source_id,
        'handled_by' as relation,
        {{ kg_node_id('team', 'team_id') }} as target_id,
        count(*) as weight,
        count(*) as evidence_count,
        null as first_seen,
        null as last_seen,
        min(article_id) as evidence
    from kb_articles
    where intent is not null
        and team_id is not null
    group by
        intent,
        team_id
),

-- what contacts show -----------------------------------------------------------------------

has_issue as (
    -- The product of the contact's order and the contact's intent; weight = conversations.
    select
        {{ kg_node_id('product', 'product_id') }} as source_id,
        'has_issue' as relation,
        {{ kg_node_id('intent', 'intent') }} as target_id,
        count(*) as weight,
        count(*) as evidence_count,
        min(started_at) as first_seen,
        max(started_at) as last_seen,
        arg_max(conversation_id, started_at) as evidence
    from contacts_with_intent
    where product_id is not null
    group by
        product_id,
        intent
),

escalates_to_team as (
    -- Transfers: the contact entered one team's queue and another team handled it.
    select
        {{ kg_node_id('intent', 'intent') }} as source_id,
        'escalates_to' as relation,
        {{ kg_node_id('team', 'team_id') }} as target_id,
        count(*) as weight,
        count(*) as evidence_count,
        min(started_at) as first_seen,
        max(started_at) as last_seen,
        arg_max(conversation_id, started_at) as evidence
    from contacts_with_intent
    where is_transferred_to_other_team
    group by
        intent,
        team_id
),

escalates_to_supervisor as (
    -- The emotion rule sent the contact to a supervisor.
    select
        {{ kg_node_id('intent', 'intent') }} as source_id,
        'escalates_to' as relation,
        {{ kg_node_id('role', "'supervisor'") }} as target_id,
        count(*) as weight,
        count(*) as evidence_count,
        min(started_at) as first_seen,
        max(started_at) as last_seen,
        arg_max(conversation_id, started_at) as evidence
    from contacts_with_intent
    where is_escalated_to_supervisor
    group by intent
),

transfers_to as (
    select
        {{ kg_node_id('team', 'entry_team_id') }} as source_id,
        'transfers_to' as relation,
        {{ kg_node_id('team', 'team_id') }} as target_id,
        count(*) as weight,
        count(*) as evidence_count,
        min(started_at) as first_seen,
        max(started_at) as last_seen,
        arg_max(conversation_id, started_at) as evidence
    from conversation_facts
    where is_transferred_to_other_team
    group by
        entry_team_id,
        team_id
),

contacts_about as (
    select
        {{ kg_node_id('city', 'city') }} as source_id,
        'contacts_about' as relation,
        {{ kg_node_id('intent', 'intent') }} as target_id,
        count(*) as weight,
        count(*) as evidence_count,
        min(started_at) as first_seen,
        max(started_at) as last_seen,
        arg_max(conversation_id, started_at) as evidence
    from contacts_with_intent
    where trim(coalesce(city, '')) <> ''
    group by
        city,
        intent
),

raises as (
    select
        {{ kg_node_id('role', "'customer'") }} as source_id,
        'raises' as relation,
        {{ kg_node_id('intent', 'intent') }} as target_id,
        count(*) as weight,
        count(*) as evidence_count,
        min(started_at) as first_seen,
        max(started_at) as last_seen,
        arg_max(conversation_id, started_at) as evidence
    from contacts_with_intent
    group by intent
),

member_of as (
    -- How many agents work in each team; who they are stays out of the graph.
    select
        {{ kg_node_id('role', "'agent'") }} as source_id,
        'member_of' as relation,
        {{ kg_node_id('team', 'team_id') }} as target_id,
        count(*) as weight,
        count(*) as evidence_count,
        null as first_seen,
        null as last_seen,
        null as evidence
    from agents
    where team_id is not null
    group by team_id
),

unioned as (
    select * from in_category
    union all by name
    select * from order_contents
    union all by name
    select * from mentioned_with
    union all by name
    select * from resolved_by
    union all by name
    select * from applies
    union all by name
    select * from handled_by
    union all by name
    select * from has_issue
    union all by name
    select * from escalates_to_team
    union all by name
    select * from escalates_to_supervisor
    union all by name
    select * from transfers_to
    union all by name
    select * from contacts_about
    union all by name
    select * from raises
    union all by name
    select * from member_of
),

final as (
    select
        source_id::varchar as source_id,
        relation::varchar as relation,
        target_id::varchar as target_id,
        weight::double as weight,
        evidence_count::bigint as evidence_count,
        first_seen::timestamp as first_seen,
        last_seen::timestamp as last_seen,
        evidence::varchar as evidence
    from unioned
)

select * from final
