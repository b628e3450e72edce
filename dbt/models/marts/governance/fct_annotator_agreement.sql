-- Double-blind review quality: of the records two or more annotators labelled independently,
-- how often they agreed, per kind of label and per label. Agreement below what the team
-- expects means the guideline or the taxonomy needs work before the labels train a model.
with

annotations as (
    select * from {{ ref('stg_raw__annotations') }}
),

turn_labels as (
    select * from {{ ref('stg_raw__turn_labels') }}
),

labelled as (
    select
        'intent' as label_kind,
        conversation_id as record_id,
        annotator,
        intent as label
    from annotations
    where intent is not null and not adjudicated  -- an adjudicator has seen both labels: not a blind vote
    union all
    select
        label_kind,
        conversation_id || '#' || turn_index as record_id,
        annotator,
        label
    from turn_labels
    where label is not null and not adjudicated
),

records as (
    select
        label_kind,
        record_id,
        count(distinct annotator) as annotators,
        count(distinct label) = 1 as agreed,
        -- The label the record counts under: the agreed one, else the most common first choice.
        mode(label) as label
    from labelled
    group by label_kind, record_id
    having count(distinct annotator) >= 2
),

chance as (
    -- Agreement expected by chance (Scott's pi / Fleiss): the sum of squared label shares over every
    -- label given to a double-reviewed record of the kind.
    select label_kind, sum(share * share) as expected
    from (
        select
            labelled.label_kind,
            count(*) / sum(count(*)) over (partition by labelled.label_kind) as share
        from labelled
        inner join records using (label_kind, record_id)
        group by labelled.label_kind, labelled.label
    )
    group by label_kind
),

pair_agreement as (
    -- Fleiss' per-record agreement: the share of ordered pairs of the record's reviewers who chose
    -- the same label, (sum over labels of n_j * (n_j - 1)) / (n * (n - 1)); 1 or 0 with two reviewers.
    select label_kind, record_id, sum(votes * (votes - 1)) / (sum(votes) * (sum(votes) - 1)) as agreement
    from (
        select labelled.label_kind, labelled.record_id, labelled.label, count(distinct labelled.annotator) as votes
        from labelled
        inner join records using (label_kind, record_id)
        group by labelled.label_kind, labelled.record_id, labelled.label
    )
    group by label_kind, record_id
),

observed as (
    select label_kind, avg(agreement) as observed
    from pair_agreement
    group by label_kind
),

final as (
    select
        records.label_kind,
        records.label,
        count(*) as double_reviewed,
        count(*) filter (where records.agreed) as agreed,
        count(*) filter (where records.agreed) / count(*) as agreement_rate,
        -- Chance-corrected agreement of the whole kind (same on each of its rows); null when every
        -- label given was the same one (chance agreement 1: nothing to correct against).
        round(any_value((observed.observed - chance.expected) / nullif(1 - chance.expected, 0)), 4) as kind_kappa
    from records
    inner join observed using (label_kind)
    inner join chance using (label_kind)
    group by records.label_kind, records.label
)

select * from final
