{#-
  Knowledge-graph helpers shared by kg_nodes, kg_edges and their tests.

  kg_node_id: every node is named '<node_type>:<natural key>' (product:P001, intent:order_status,
  city:上海), so an edge can be written from either model without a lookup and a reader can tell
  a node's type from its id.
-#}
{% macro kg_node_id(node_type, key_expr) -%}
('{{ node_type }}:' || ({{ key_expr }}))
{%- endmacro %}

{#-
  Non-overlapping occurrences of needle in haystack (both already cased as the match needs).
-#}
{% macro kg_count_occurrences(haystack, needle) -%}
{{ int_div('length(' ~ haystack ~ ') - length(replace(' ~ haystack ~ ', ' ~ needle ~ ", ''))", 'length(' ~ needle ~ ')') }}
{%- endmacro %}

{#-
  The multi-hop answer the live view relies on: every intent that has a knowledge-base article
  reaches a policy through intent -resolved_by-> kb_article -applies-> policy, and every
  product -has_issue-> intent edge towards such an intent therefore continues to a policy.
  Returns the intents (and product/intent pairs) where the path is broken.
-#}
{% test kg_answer_path_complete(model, edges) %}

with

nodes as (
    select * from {{ model }}
),

edges as (
    select * from {{ edges }}
),

intents_with_articles as (
    select distinct
        {{ kg_node_id('intent', "attributes ->> 'intent'") }} as intent_node_id
    from nodes
    where node_type = 'kb_article'
),

complete_intents as (
    select distinct
        resolved_by.source_id as intent_node_id
    from edges as resolved_by
    inner join nodes as article
        on resolved_by.target_id = article.node_id
        and article.node_type = 'kb_article'
    inner join edges as applies
        on applies.source_id = article.node_id
        and applies.relation = 'applies'
    inner join nodes as policy
        on applies.target_id = policy.node_id
        and policy.node_type = 'policy'
    where resolved_by.relation = 'resolved_by'
),

broken_intents as (
    select
        intent_node_id as broken_at,
        'intent without article and policy' as problem
    from intents_with_articles
    where intent_node_id not in (select intent_node_id from complete_intents)
),

broken_product_paths as (
    select
        has_issue.source_id || ' -> ' || has_issue.target_id as broken_at,
        'product issue without article and policy' as problem
    from edges as has_issue
    where has_issue.relation = 'has_issue'
        and has_issue.target_id in (select intent_node_id from intents_with_articles)
        and has_issue.target_id not in (select intent_node_id from complete_intents)
)

select * from broken_intents
union all
select * from broken_product_paths

{% endtest %}

{#-
  kg_nodes and kg_edges are each a union of one call per node kind and per relation kind: every
  kind yields the same columns in the same way, and a new kind is one more call, not another
  copied CTE.

  kg_activity: how often each key shows up and when, first and last; a row without the key counts
  for no node.
-#}
{% macro kg_activity(from, key, mentions='count(*)', seen_at='started_at') -%}
select
        {{ key }},
        {{ mentions }} as mention_count,
        min({{ seen_at }}) as first_seen,
        max({{ seen_at }}) as last_seen
    from {{ from }}
    where {{ key }} is not null
    group by {{ key }}
{%- endmacro %}

{#-
  kg_node: one node per row of `from` (per distinct `key` with one_per_key, which then adds up the
  activity of the rows it groups). `joins` and `activity` (a kg_activity relation, or `from` itself)
  are left-joined on join_on, which defaults to the key; name defaults to the key; attributes maps
  each JSON key to its SQL expression, in the order given.
-#}
{% macro kg_node(node_type, from, key, activity, attributes, joins=[], join_on=none, name=none,
    name_zh='null', language='null', where=none, one_per_key=false) -%}
{%- set join_column = join_on or key -%}
select
        {{ kg_node_id(node_type, from ~ '.' ~ key) }} as node_id,
        '{{ node_type }}' as node_type,
        {{ name or from ~ '.' ~ key }} as name,
        {{ name_zh }} as name_zh,
        {{ language }} as language,
        {{ json_object_of(attributes.items()) }} as attributes,
        {%- if one_per_key %}
        coalesce(sum({{ activity }}.mention_count), 0) as mention_count,
        min({{ activity }}.first_seen) as first_seen,
        max({{ activity }}.last_seen) as last_seen
        {%- else %}
        coalesce({{ activity }}.mention_count, 0) as mention_count,
        {{ activity }}.first_seen,
        {{ activity }}.last_seen
        {%- endif %}
    from {{ from }}
    {%- for relation in joins + ([activity] if activity != from else []) %}
    left join {{ relation }}
        on {{ from }}.{{ join_column }} = {{ relation }}.{{ join_column }}
    {%- endfor %}
    {%- if where %}
    where {{ where }}
    {%- endif %}
    {%- if one_per_key %}
    group by {{ from }}.{{ key }}
    {%- endif %}
{%- endmacro %}

{#-
  kg_edge: source -relation-> target, one edge per row of `from`, or per source and target with
  grouped (a quoted key such as "'supervisor'" names one fixed node and groups nothing). Without
  weight and counts, an edge is a plain fact of the catalogue or the knowledge base.
-#}
{% macro kg_edge(source_type, source_key, relation, target_type, target_key, from, where=none,
    grouped=false, weight='1', evidence_count='1', first_seen='null', last_seen='null', evidence='null') -%}
select
        {{ kg_node_id(source_type, source_key) }} as source_id,
        '{{ relation }}' as relation,
        {{ kg_node_id(target_type, target_key) }} as target_id,
        {{ weight }} as weight,
        {{ evidence_count }} as evidence_count,
        {{ first_seen }} as first_seen,
        {{ last_seen }} as last_seen,
        {{ evidence }} as evidence
    from {{ from }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
    {%- if grouped %}
    group by {% for key in [source_key, target_key] if not key.startswith("'") -%}
        {{ key }}{{ ', ' if not loop.last }}
    {%- endfor %}
    {%- endif %}
{%- endmacro %}

{#-
  kg_contact_edge: a relation the contacts show; weight = conversations, evidence = the latest one.
-#}
{% macro kg_contact_edge(source_type, source_key, relation, target_type, target_key, where=none,
    from='contacts_with_intent') -%}
{{ kg_edge(
    source_type, source_key, relation, target_type, target_key, from=from, where=where, grouped=true,
    weight='count(*)', evidence_count='count(*)', first_seen='min(started_at)', last_seen='max(started_at)',
    evidence='max_by(conversation_id, started_at)'
) }}
{%- endmacro %}
