with

quality as (
    select * from {{ source('ml', 'translation_quality') }}
),

model_runs as (
    select * from {{ source('ml', 'ml_model_runs') }}
),

final as (
    select
        quality.source_language,
        quality.target_language,
        round(quality.bleu, 2) as bleu,
        round(quality.chrf, 2) as chrf,
        quality.eval_pairs,
        quality.usable,
        case
            when quality.usable then 'translation'
            else 'cross-lingual embeddings'
        end as analytics_path,
        quality.model_version,
        quality.evaluated_at
    from quality
    inner join model_runs
        on model_runs.task = 'translation'
        and model_runs.is_current
        and model_runs.model_version = quality.model_version
)

select * from final
