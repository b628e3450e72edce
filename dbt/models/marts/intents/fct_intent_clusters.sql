with

clusters as (
    select * from {{ source('ml', 'intent_clusters') }}
),

model_runs as (
    select * from {{ source('ml', 'ml_model_runs') }}
),

current_model as (
    select model_version
    from model_runs
    where task = 'embeddings' and is_current
),

final as (
    select
        clusters.cluster_id,
        clusters.size as contacts,
        clusters.nearest_intent,
        round(clusters.nearest_similarity, 4) as nearest_similarity,
        round(clusters.unexplained_share, 4) as unexplained_share,
        clusters.is_candidate_new,
        clusters.examples,
        clusters.terms,
        clusters.model_version,
        clusters.clustered_at
    from clusters
    inner join current_model using (model_version)
)

select * from final
