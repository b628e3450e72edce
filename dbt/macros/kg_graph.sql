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
((length({{ haystack }}) - length(replace({{ haystack }}, {{ needle }}, ''))) // length({{ needle }}))
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
