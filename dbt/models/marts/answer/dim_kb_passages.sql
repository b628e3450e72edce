-- The knowledge base as the answer view retrieves it: every passage with its vector from the
-- encoder in use. Published with the marts so the live view never opens the writer's file.
with

passages as (
    select * from {{ source('ml', 'kb_passages') }}
),

encoder as (
    select model_version
    from {{ source('ml', 'ml_model_runs') }}
    where task = 'embeddings' and is_current
),

articles as (
    select * from {{ ref('stg_raw__kb_articles') }}
),

final as (
    select
        passages.passage_id,
        passages.article_id,
        passages.passage_index,
        passages.language,
        passages.intent,
        passages.policy_id,
        passages.team_id,
        articles.title as article_title,
        articles.policy_name,
        passages.text,
        passages.model_version,
        passages.embedding
    from passages
    inner join encoder on passages.model_version = encoder.model_version
    left join articles on passages.article_id = articles.article_id
)

select * from final
