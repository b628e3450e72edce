with

products as (
    select * from {{ ref('stg_raw__products') }}
),

kb_articles as (
    select * from {{ ref('stg_raw__kb_articles') }}
),

teams as (
    select * from {{ ref('stg_raw__teams') }}
),

agents as (
    select * from {{ ref('stg_raw__agents') }}
),

customers as (
    select * from {{ ref('stg_raw__customers') }}
),

order_lines as (
    select * from {{ ref('stg_raw__orders') }}
),

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

conversation_facts as (
    select * from {{ ref('int_kg__conversation_facts') }}
),

product_mentions as (
    select * from {{ ref('int_kg__product_mentions') }}
),

-- products ---------------------------------------------------------------------------------

product_activity as (
    {{ kg_activity('product_mentions', 'product_id', mentions='sum(mentions)', seen_at='ts') }}
),

known_products as (
    -- The catalogue, and any product an order line names that the catalogue lacks.
    select product_id from products
    union
    select product_id from order_lines where product_id is not null
),

-- orders that contacts are about -----------------------------------------------------------

order_summary as (
    select
        order_id,
        min(ordered_at) as ordered_at,
        count(*) as lines,
        sum(quantity) as units,
        round(sum(line_amount), 2) as amount
    from order_lines
    group by order_id
),

order_activity as (
    {{ kg_activity('conversation_facts', 'order_id') }}
),

-- intents, articles, policies --------------------------------------------------------------

intent_activity as (
    {{ kg_activity('conversation_facts', 'intent') }}
),

article_intents as (
    select
        intent,
        max(title) filter (where language = 'en') as title_en,
        max(title) filter (where language = 'zh') as title_zh,
        min(team_id) as team_id
    from kb_articles
    where intent is not null
    group by intent
),

known_intents as (
    -- Intents of the knowledge base, and any the contacts carry that it does not cover yet.
    select intent from article_intents
    union
    select intent from intent_activity
),

intent_policies as (
    select distinct
        intent,
        policy_id
    from kb_articles
    where policy_id is not null
),

policy_conversations as (
    -- Conversations whose intent an article applying the policy resolves.
    select
        intent_policies.policy_id,
        conversation_facts.conversation_id,
        conversation_facts.started_at
    from intent_policies
    inner join conversation_facts
        on intent_policies.intent = conversation_facts.intent
),

policy_activity as (
    {{ kg_activity('policy_conversations', 'policy_id', mentions='count(distinct conversation_id)') }}
),

policy_names as (
    select
        policy_id,
        coalesce(max(policy_name) filter (where language = 'en'), min(policy_name)) as name_en,
        max(policy_name) filter (where language = 'zh') as name_zh,
        count(*) as articles
    from kb_articles
    where policy_id is not null
    group by policy_id
),

-- teams, cities, roles ---------------------------------------------------------------------

team_activity as (
    {{ kg_activity('conversation_facts', 'team_id') }}
),

team_agents as (
    select
        team_id,
        count(*) as agents
    from agents
    group by team_id
),

known_teams as (
    -- Every team any source names, so no edge points at a team the roster has not listed.
    select team_id from teams
    union
    select team_id from agents where team_id is not null
    union
    select team_id from kb_articles where team_id is not null
    union
    select team_id from team_activity
    union
    select entry_team_id from conversation_facts where entry_team_id is not null
),

city_customers as (
    select
        city,
        count(*) as customers,
        mode(language) as main_language
    from customers
    where trim(coalesce(city, '')) <> ''
    group by city
),

city_activity as (
    {{ kg_activity('conversation_facts', 'city') }}
),

roles as (
    -- People appear only as the roles they play: never an individual.
    select
        'customer' as role,
        '客户' as name_zh,
        (select count(*) from customers) as people
    union all
    select
        'agent' as role,
        '客服' as name_zh,
        (select count(*) from agents) as people
    union all
    select
        'supervisor' as role,
        '主管' as name_zh,
        null as people
),

role_appearances as (
    -- Customers and agents by the turns they speak, the supervisor by the contacts escalated to one.
    select speaker as role, ts as seen_at from turns where speaker in ('customer', 'agent')
    union all
    select 'supervisor' as role, started_at as seen_at from conversation_facts where is_escalated_to_supervisor
),

role_activity as (
    {{ kg_activity('role_appearances', 'role', seen_at='seen_at') }}
),

unioned as (
    {{ kg_node('product', from='known_products', key='product_id', activity='product_activity',
        joins=['products'], name='coalesce(products.name_en, known_products.product_id)',
        name_zh='products.name_zh', language="'en'", attributes={
            'product_id': 'known_products.product_id', 'category': 'products.category',
            'price': 'products.price', 'in_catalogue': 'products.product_id is not null'}) }}
    union all
    {{ kg_node('product_category', from='products', key='category', activity='product_activity',
        join_on='product_id', where='products.category is not null', one_per_key=true,
        attributes={'products': 'count(*)'}) }}
    union all
    {{ kg_node('order', from='order_activity', key='order_id', activity='order_activity',
        joins=['order_summary'], attributes={
            'ordered_at': 'order_summary.ordered_at', 'lines': 'order_summary.lines',
            'units': 'order_summary.units', 'amount': 'order_summary.amount'}) }}
    union all
    {{ kg_node('intent', from='known_intents', key='intent', activity='intent_activity',
        joins=['article_intents'], name_zh='article_intents.title_zh', attributes={
            'title_en': 'article_intents.title_en', 'title_zh': 'article_intents.title_zh',
            'team_id': 'article_intents.team_id', 'has_kb_article': 'article_intents.intent is not null'}) }}
    union all
    -- Title and steps travel with the node: the published snapshot holds marts only, and the
    -- live answer view shows the article it finds.
    {{ kg_node('kb_article', from='kb_articles', key='article_id', activity='intent_activity',
        join_on='intent', name='kb_articles.title', language='kb_articles.language',
        name_zh="case when kb_articles.language = 'zh' then kb_articles.title end", attributes={
            'article_id': 'kb_articles.article_id', 'intent': 'kb_articles.intent',
            'policy_id': 'kb_articles.policy_id', 'team_id': 'kb_articles.team_id',
            'body': 'kb_articles.body'}) }}
    union all
    {{ kg_node('policy', from='policy_names', key='policy_id', activity='policy_activity',
        name='policy_names.name_en', name_zh='policy_names.name_zh', language="'en'",
        attributes={'policy_id': 'policy_names.policy_id', 'articles': 'policy_names.articles'}) }}
    union all
    {{ kg_node('team', from='known_teams', key='team_id', activity='team_activity',
        joins=['teams', 'team_agents'], name='coalesce(teams.team_name, known_teams.team_id)',
        language="'en'", attributes={
            'team_id': 'known_teams.team_id', 'category': 'teams.category',
            'agents': 'coalesce(team_agents.agents, 0)'}) }}
    union all
    {{ kg_node('city', from='city_customers', key='city', activity='city_activity',
        name_zh="case when city_customers.main_language = 'zh' then city_customers.city end",
        language='city_customers.main_language', attributes={'customers': 'city_customers.customers'}) }}
    union all
    {{ kg_node('role', from='roles', key='role', activity='role_activity',
        name_zh='roles.name_zh', language="'en'", attributes={'people': 'roles.people'}) }}
),

final as (
    select
        node_id::string as node_id,
        node_type::string as node_type,
        name::string as name,
        name_zh::string as name_zh,
        language::string as language,
        {{ as_json('attributes') }} as attributes,
        mention_count::bigint as mention_count,
        first_seen::timestamp as first_seen,
        last_seen::timestamp as last_seen
    from unioned
)

select * from final
