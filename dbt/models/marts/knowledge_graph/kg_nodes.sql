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

product_mention_summary as (
    select
        product_id,
        sum(mentions) as mention_count,
        min(ts) as first_seen,
        max(ts) as last_seen
    from product_mentions
    group by product_id
),

known_products as (
    -- The catalogue, and any product an order line names that the catalogue lacks.
    select product_id from products
    union
    select product_id from order_lines where product_id is not null
),

product_nodes as (
    select
        {{ kg_node_id('product', 'known_products.product_id') }} as node_id,
        'product' as node_type,
        coalesce(products.name_en, known_products.product_id) as name,
        products.name_zh,
        'en' as language,
        json_object(
            'product_id', known_products.product_id,
            'category', products.category,
            'price', products.price,
            'in_catalogue', products.product_id is not null
        ) as attributes,
        coalesce(product_mention_summary.mention_count, 0) as mention_count,
        product_mention_summary.first_seen,
        product_mention_summary.last_seen
    from known_products
    left join products
        on known_products.product_id = products.product_id
    left join product_mention_summary
        on known_products.product_id = product_mention_summary.product_id
),

category_nodes as (
    select
        {{ kg_node_id('product_category', 'products.category') }} as node_id,
        'product_category' as node_type,
        products.category as name,
        null as name_zh,
        null as language,
        json_object('products', count(*)) as attributes,
        coalesce(sum(product_mention_summary.mention_count), 0) as mention_count,
        min(product_mention_summary.first_seen) as first_seen,
        max(product_mention_summary.last_seen) as last_seen
    from products
    left join product_mention_summary
        on products.product_id = product_mention_summary.product_id
    where products.category is not null
    group by products.category
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

order_contacts as (
    select
        order_id,
        count(*) as conversations,
        min(started_at) as first_seen,
        max(started_at) as last_seen
    from conversation_facts
    where order_id is not null
    group by order_id
),

order_nodes as (
    select
        {{ kg_node_id('order', 'order_contacts.order_id') }} as node_id,
        'order' as node_type,
        order_contacts.order_id as name,
        null as name_zh,
        null as language,
        json_object(
            'ordered_at', order_summary.ordered_at,
            'lines', order_summary.lines,
            'units', order_summary.units,
            'amount', order_summary.amount
        ) as attributes,
        order_contacts.conversations as mention_count,
        order_contacts.first_seen,
        order_contacts.last_seen
    from order_contacts
    left join order_summary
        on order_contacts.order_id = order_summary.order_id
),

-- intents, articles, policies --------------------------------------------------------------

intent_contacts as (
    select
        intent,
        count(*) as conversations,
        min(started_at) as first_seen,
        max(started_at) as last_seen
    from conversation_facts
    where intent is not null
    group by intent
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
    select intent from intent_contacts
),

intent_nodes as (
    select
        {{ kg_node_id('intent', 'known_intents.intent') }} as node_id,
        'intent' as node_type,
        known_intents.intent as name,
        article_intents.title_zh as name_zh,
        null as language,
        json_object(
            'title_en', article_intents.title_en,
            'title_zh', article_intents.title_zh,
            'team_id', article_intents.team_id,
            'has_kb_article', article_intents.intent is not null
        ) as attributes,
        coalesce(intent_contacts.conversations, 0) as mention_count,
        intent_contacts.first_seen,
        intent_contacts.last_seen
    from known_intents
    left join article_intents
        on known_intents.intent = article_intents.intent
    left join intent_contacts
        on known_intents.intent = intent_contacts.intent
),

article_nodes as (
    -- Title and steps travel with the node: the published snapshot holds marts only, and the
    -- live answer view shows the article it finds.
    select
        {{ kg_node_id('kb_article', 'kb_articles.article_id') }} as node_id,
        'kb_article' as node_type,
        kb_articles.title as name,
        case when kb_articles.language = 'zh' then kb_articles.title end as name_zh,
        kb_articles.language,
        json_object(
            'article_id', kb_articles.article_id,
            'intent', kb_articles.intent,
            'policy_id', kb_articles.policy_id,
            'team_id', kb_articles.team_id,
            'body', kb_articles.body
        ) as attributes,
        coalesce(intent_contacts.conversations, 0) as mention_count,
        intent_contacts.first_seen,
        intent_contacts.last_seen
    from kb_articles
    left join intent_contacts
        on kb_articles.intent = intent_contacts.intent
),

intent_policies as (
    select distinct
        intent,
        policy_id
    from kb_articles
    where policy_id is not null
),

policy_contacts as (
    -- Conversations whose intent an article applying the policy resolves.
    select
        intent_policies.policy_id,
        count(distinct conversation_facts.conversation_id) as conversations,
        min(conversation_facts.started_at) as first_seen,
        max(conversation_facts.started_at) as last_seen
    from intent_policies
    inner join conversation_facts
        on intent_policies.intent = conversation_facts.intent
    group by intent_policies.policy_id
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

policy_nodes as (
    select
        {{ kg_node_id('policy', 'policy_names.policy_id') }} as node_id,
        'policy' as node_type,
        policy_names.name_en as name,
        policy_names.name_zh,
        'en' as language,
        json_object(
            'policy_id', policy_names.policy_id,
            'articles', policy_names.articles
        ) as attributes,
        coalesce(policy_contacts.conversations, 0) as mention_count,
        policy_contacts.first_seen,
        policy_contacts.last_seen
    from policy_names
    left join policy_contacts
        on policy_names.policy_id = policy_contacts.policy_id
),

-- teams, cities, roles ---------------------------------------------------------------------

team_contacts as (
    select
        team_id,
        count(*) as conversations,
        min(started_at) as first_seen,
        max(started_at) as last_seen
    from conversation_facts
    where team_id is not null
    group by team_id
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
    select team_id from team_contacts
    union
    select entry_team_id from conversation_facts where entry_team_id is not null
),

team_nodes as (
    select
        {{ kg_node_id('team', 'known_teams.team_id') }} as node_id,
        'team' as node_type,
        coalesce(teams.team_name, known_teams.team_id) as name,
        null as name_zh,
        'en' as language,
        json_object(
            'team_id', known_teams.team_id,
            'category', teams.category,
            'agents', coalesce(team_agents.agents, 0)
        ) as attributes,
        coalesce(team_contacts.conversations, 0) as mention_count,
        team_contacts.first_seen,
        team_contacts.last_seen
    from known_teams
    left join teams
        on known_teams.team_id = teams.team_id
    left join team_agents
        on known_teams.team_id = team_agents.team_id
    left join team_contacts
        on known_teams.team_id = team_contacts.team_id
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

city_contacts as (
    select
        city,
        count(*) as conversations,
        min(started_at) as first_seen,
        max(started_at) as last_seen
    from conversation_facts
    where city is not null
    group by city
),

city_nodes as (
    select
        {{ kg_node_id('city', 'city_customers.city') }} as node_id,
        'city' as node_type,
        city_customers.city as name,
        case when city_customers.main_language = 'zh' then city_customers.city end as name_zh,
        city_customers.main_language as language,
        json_object('customers', city_customers.customers) as attributes,
        coalesce(city_contacts.conversations, 0) as mention_count,
        city_contacts.first_seen,
        city_contacts.last_seen
    from city_customers
    left join city_contacts
        on city_customers.city = city_contacts.city
),

speaker_turns as (
    select
        speaker,
        count(*) as turns,
        min(ts) as first_seen,
        max(ts) as last_seen
    from turns
    group by speaker
),

supervisor_escalations as (
    select
        count(*) as conversations,
        min(started_at) as first_seen,
        max(started_at) as last_seen
    from conversation_facts
    where is_escalated_to_supervisor
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

role_nodes as (
    select
        {{ kg_node_id('role', 'roles.role') }} as node_id,
        'role' as node_type,
        roles.role as name,
        roles.name_zh,
        'en' as language,
        json_object('people', roles.people) as attributes,
        coalesce(
            case when roles.role = 'supervisor' then supervisor_escalations.conversations else speaker_turns.turns end,
            0
        ) as mention_count,
        case
            when roles.role = 'supervisor' then supervisor_escalations.first_seen
            else speaker_turns.first_seen
        end as first_seen,
        case
            when roles.role = 'supervisor' then supervisor_escalations.last_seen
            else speaker_turns.last_seen
        end as last_seen
    from roles
    left join speaker_turns
        on roles.role = speaker_turns.speaker
    cross join supervisor_escalations
),

unioned as (
    select * from product_nodes
    union all by name
    select * from category_nodes
    union all by name
    select * from order_nodes
    union all by name
    select * from intent_nodes
    union all by name
    select * from article_nodes
    union all by name
    select * from policy_nodes
    union all by name
    select * from team_nodes
    union all by name
    select * from city_nodes
    union all by name
    select * from role_nodes
),

final as (
    select
        node_id::varchar as node_id,
        node_type::varchar as node_type,
        name::varchar as name,
        name_zh::varchar as name_zh,
        language::varchar as language,
        attributes::json as attributes,
        mention_count::bigint as mention_count,
        first_seen::timestamp as first_seen,
        last_seen::timestamp as last_seen
    from unioned
)

select * from final
