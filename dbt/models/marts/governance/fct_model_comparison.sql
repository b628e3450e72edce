with

model_runs as (
    select * from {{ source('ml', 'ml_model_runs') }}
),

readings as (
    -- Every reading of every version, as (task, record, version, label).
    {%- for task, record, label, table in [
        ('intent', 'conversation_id', 'intent', 'intent_predictions'),
        ('emotion', "conversation_id || '#' || turn_index", 'emotion', 'turn_emotions'),
        ('quality_act', "conversation_id || '#' || turn_index", 'act', 'turn_acts'),
    ] %}
    select '{{ task }}' as task, {{ record }} as record_id, model_version, {{ label }} as label
    from {{ source('ml', table) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

reference as (
    -- What reviewers agreed on: the yardstick for both versions.
    select
        'intent' as task,
        conversation_id as record_id,
        intent as label
    from {{ ref('int_annotations__agreed_intents') }}
    union all
    select
        case label_kind when 'emotion' then 'emotion' else 'quality_act' end,
        conversation_id || '#' || turn_index,
        label
    from {{ ref('int_turn_labels__agreed') }}
),

versions as (
    select
        task,
        model_version,
        trained_at,
        is_current
    from model_runs
    where task in ('intent', 'emotion', 'quality_act')
),

pairs as (
    -- Every pair of versions of a task, older as A and newer as B.
    select
        a.task,
        a.model_version as version_a,
        b.model_version as version_b,
        b.is_current as b_is_current
    from versions as a
    inner join versions as b
        on a.task = b.task
        and a.trained_at < b.trained_at
),

compared as (
    select
        pairs.task,
        pairs.version_a,
        pairs.version_b,
        pairs.b_is_current,
        ra.record_id,
        ra.label as label_a,
        rb.label as label_b,
        reference.label as reference_label
    from pairs
    inner join readings as ra
        on ra.task = pairs.task and ra.model_version = pairs.version_a
    inner join readings as rb
        on rb.task = pairs.task and rb.model_version = pairs.version_b and rb.record_id = ra.record_id
    left join reference
        on reference.task = pairs.task and reference.record_id = ra.record_id
),

final as (
    select
        task,
        version_a,
        version_b,
        bool_or(b_is_current) as b_is_current,
        count(*) as common_records,
        round(avg((label_a = label_b)::int), 4) as agreement,
        count(reference_label) as reviewed_records,
        round(avg((label_a = reference_label)::int) filter (where reference_label is not null), 4) as accuracy_a,
        round(avg((label_b = reference_label)::int) filter (where reference_label is not null), 4) as accuracy_b,
        count(*) filter (where label_a != label_b and label_b = reference_label) as b_fixes,
        count(*) filter (where label_a != label_b and label_a = reference_label) as b_breaks
    from compared
    group by task, version_a, version_b
)

select * from final
