-- Intent centroids of the zero- and few-shot paths with their held-out accuracy, for the encoder
-- in use: a new message is scored against these exactly as stored contacts were.
with

prototypes as (
    select * from {{ source('ml', 'intent_prototypes') }}
),

encoder as (
    select model_version
    from {{ source('ml', 'ml_model_runs') }}
    where task = 'embeddings' and is_current
),

final as (
    select
        prototypes.intent,
        prototypes.method,
        prototypes.examples,
        prototypes.accuracy,
        prototypes.temperature,
        prototypes.escalate_below,
        prototypes.model_version,
        prototypes.embedding
    from prototypes
    inner join encoder on prototypes.model_version = encoder.model_version
)

select * from final
