with

turns as (
    select * from {{ ref('stg_raw__turns') }}
),

products as (
    select * from {{ ref('stg_raw__products') }}
),

catalogue_names as (
    -- The names a product is known by: English matched in any case, Chinese exactly.
    select
        product_id,
        lower(name_en) as name,
        false as is_case_sensitive
    from products
    where trim(coalesce(name_en, '')) <> ''

    union all

    select
        product_id,
        name_zh as name,
        true as is_case_sensitive
    from products
    where trim(coalesce(name_zh, '')) <> ''
),

nested_names as (
    -- A name inside a longer catalogue name ("扫地机器人" in "扫地机器人替换滤网"): an
    -- occurrence of the longer name is a mention of that product only.
    select
        shorter.product_id,
        shorter.name,
        shorter.is_case_sensitive,
        longer.name as longer_name,
        {{ kg_count_occurrences('longer.name', 'shorter.name') }} as occurrences_in_longer
    from catalogue_names as shorter
    inner join catalogue_names as longer
        on shorter.is_case_sensitive = longer.is_case_sensitive
        and length(longer.name) > length(shorter.name)
        and contains(longer.name, shorter.name)
),

turn_texts as (
    select
        conversation_id,
        turn_index,
        speaker,
        ts,
        text,
        lower(text) as text_lower
    from turns
    where text is not null
),

candidate_matches as (
    select
        turn_texts.conversation_id,
        turn_texts.turn_index,
        turn_texts.speaker,
        turn_texts.ts,
        catalogue_names.product_id,
        catalogue_names.name,
        catalogue_names.is_case_sensitive,
        case
            when catalogue_names.is_case_sensitive then turn_texts.text
            else turn_texts.text_lower
        end as haystack
    from turn_texts
    inner join catalogue_names
        on contains(
            case when catalogue_names.is_case_sensitive then turn_texts.text else turn_texts.text_lower end,
            catalogue_names.name
        )
),

inside_longer_names as (
    select
        candidate_matches.conversation_id,
        candidate_matches.turn_index,
        candidate_matches.product_id,
        candidate_matches.name,
        sum(
            {{ kg_count_occurrences('candidate_matches.haystack', 'nested_names.longer_name') }}
            * nested_names.occurrences_in_longer
        ) as occurrences
    from candidate_matches
    inner join nested_names
        on candidate_matches.product_id = nested_names.product_id
        and candidate_matches.name = nested_names.name
        and candidate_matches.is_case_sensitive = nested_names.is_case_sensitive
    group by
        candidate_matches.conversation_id,
        candidate_matches.turn_index,
        candidate_matches.product_id,
        candidate_matches.name
),

counted as (
    select
        candidate_matches.conversation_id,
        candidate_matches.turn_index,
        candidate_matches.speaker,
        candidate_matches.ts,
        candidate_matches.product_id,
        candidate_matches.is_case_sensitive,
        {{ kg_count_occurrences('candidate_matches.haystack', 'candidate_matches.name') }}
            - coalesce(inside_longer_names.occurrences, 0) as mentions
    from candidate_matches
    left join inside_longer_names
        on candidate_matches.conversation_id = inside_longer_names.conversation_id
        and candidate_matches.turn_index = inside_longer_names.turn_index
        and candidate_matches.product_id = inside_longer_names.product_id
        and candidate_matches.name = inside_longer_names.name
),

final as (
    select
        conversation_id,
        turn_index,
        product_id,
        any_value(speaker) as speaker,
        any_value(ts) as ts,
        sum(mentions)::integer as mentions,
        coalesce(sum(mentions) filter (where not is_case_sensitive), 0)::integer as mentions_en,
        coalesce(sum(mentions) filter (where is_case_sensitive), 0)::integer as mentions_zh
    from counted
    where mentions > 0
    group by
        conversation_id,
        turn_index,
        product_id
)

select * from final
