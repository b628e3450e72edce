with

predictions as (
    select * from {{ source('ml', 'intent_predictions') }}
),

model_runs as (
    select * from {{ source('ml', 'ml_model_runs') }}
),

conversations as (
    select * from {{ ref('stg_raw__conversations') }}
),

reviewed as (
    select
        conversation_id,
        intent as reviewed_intent
    from {{ ref('int_annotations__agreed_intents') }}
),

current_version as (
    select model_version
    from model_runs
    where task = 'intent' and is_current
),

current_predictions as (
    -- One reading per conversation: the current version's, or, until it has scored a
    -- conversation, the latest earlier one (so the mart never empties between two steps).
    select predictions.*
    from predictions
    left join current_version as cv on predictions.model_version = cv.model_version
    qualify row_number() over (
        partition by predictions.conversation_id
        order by cv.model_version is not null desc, predictions.scored_at desc, predictions.model_version desc
    ) = 1
),

similarity as (
    select
        conversation_id,
        max(intent) filter (where method = 'zero-shot') as zero_shot_intent,
        max(margin) filter (where method = 'zero-shot') as zero_shot_margin,
        max(intent) filter (where method = 'few-shot') as few_shot_intent,
        max(top_intents) filter (where method = 'few-shot') as few_shot_top_intents
    from ({{ current_predictions(source('ml', 'intent_similarity'), 'embeddings', ['conversation_id', 'method']) }})
    group by conversation_id
),

clusters as (
    -- Discovered topics, named by the words that set them apart: the reading of last resort when
    -- neither reviews, a trained model nor a taxonomy/knowledge base names an intent.
    select
        contact_clusters.conversation_id,
        'topic: ' || {{ join_list('intent_clusters.terms', ' / ') }} as cluster_topic
    from {{ source('ml', 'contact_clusters') }} as contact_clusters
    inner join model_runs
        on model_runs.task = 'embeddings' and model_runs.is_current
        and contact_clusters.model_version = model_runs.model_version
    inner join {{ source('ml', 'intent_clusters') }} as intent_clusters
        on contact_clusters.model_version = intent_clusters.model_version
        and contact_clusters.cluster_id = intent_clusters.cluster_id
    where {{ list_size('intent_clusters.terms') }} > 0
),

path_accuracy as (
    -- Held-out accuracy of the trained model and of the few-shot embedding path, from the registry.
    select
        max(accuracy) filter (where task = 'intent' and is_current) as model_accuracy,
        max(accuracy) filter (where task = 'intent_few_shot' and is_current) as few_shot_accuracy
    from model_runs
),

final as (
    select
        conversations.conversation_id,
        conversations.started_date,
        conversations.channel,
        conversations.final_queue_id as queue_id,
        current_predictions.intent as predicted_intent,
        current_predictions.confidence,
        -- No trained model yet: nothing has been calibrated, so every contact goes to a person.
        coalesce(current_predictions.escalate, true) as needs_escalation,
        current_predictions.model_version,
        reviewed.reviewed_intent,
        reviewed.reviewed_intent = current_predictions.intent as matches_review,
        similarity.zero_shot_intent,
        round(similarity.zero_shot_margin, 4) as zero_shot_margin,
        similarity.few_shot_intent,
        similarity.few_shot_top_intents,
        clusters.cluster_topic,
        -- The intent downstream rules use: what reviewers agreed on, else the path that is more
        -- accurate on held-out reviewed contacts (fine-tuned model or few-shot embeddings); before
        -- any model is trained, the taxonomy's zero-shot reading, else the discovered topic.
        case
            when reviewed.reviewed_intent is not null then reviewed.reviewed_intent
            when similarity.few_shot_intent is not null
                and coalesce(path_accuracy.few_shot_accuracy, 0) > coalesce(path_accuracy.model_accuracy, 0)
                then similarity.few_shot_intent
            when current_predictions.intent is not null then current_predictions.intent
            when similarity.zero_shot_intent is not null then similarity.zero_shot_intent
            else clusters.cluster_topic
        end as intent_of_record,
        case
            when reviewed.reviewed_intent is not null then 'review'
            when similarity.few_shot_intent is not null
                and coalesce(path_accuracy.few_shot_accuracy, 0) > coalesce(path_accuracy.model_accuracy, 0)
                then 'few-shot embeddings'
            when current_predictions.intent is not null then 'intent model'
            when similarity.zero_shot_intent is not null then 'zero-shot taxonomy'
            when clusters.cluster_topic is not null then 'discovered topic'
        end as intent_source
    from conversations
    cross join path_accuracy
    left join current_predictions using (conversation_id)
    left join reviewed using (conversation_id)
    left join similarity using (conversation_id)
    left join clusters using (conversation_id)
)

select * from final
where intent_source is not null
