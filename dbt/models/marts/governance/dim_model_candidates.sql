-- Every candidate the trainer fitted for each model version, with its cross-validated score:
-- what the Models page shows side by side, and why a version is what it is.
with

model_runs as (
    select * from {{ source('ml', 'ml_model_runs') }}
),

versions as (
    select
        task,
        model_version,
        is_current,
        trained_at,
        chosen_candidate,
        selection_reason,
        accuracy as eval_accuracy,
        macro_f1 as eval_macro_f1,
        ece as eval_ece,
        eval_examples,
        train_examples,
        candidates
    from model_runs
    where candidates is not null
),

candidates as (
    select
        versions.*,
        unnest(json_keys(candidates)) as candidate
    from versions
),

final as (
    select
        task,
        model_version,
        is_current,
        trained_at,
        candidate,
        candidate = chosen_candidate as is_chosen,
        try_cast(json_extract_string(candidates, '$.' || candidate || '.macro_f1') as double) as cv_macro_f1,
        try_cast(json_extract_string(candidates, '$.' || candidate || '.accuracy') as double) as cv_accuracy,
        try_cast(json_extract_string(candidates, '$.' || candidate || '.ece') as double) as cv_ece,
        try_cast(json_extract_string(candidates, '$.' || candidate || '.folds') as integer) as folds_scored,
        try_cast(json_extract_string(candidates, '$.' || candidate || '.seconds') as double) as train_seconds,
        json_extract_string(candidates, '$.' || candidate || '.detail') as detail,
        selection_reason,
        train_examples,
        eval_examples,
        eval_accuracy,
        eval_macro_f1,
        eval_ece
    from candidates
)

select * from final
