-- The company's intent taxonomy as the last build read it (SI_TAXONOMY): what reviewers pick from.
with

taxonomy as (
    select * from {{ source('ml', 'intent_taxonomy') }}
),

final as (
    select
        intent,
        description,
        examples,
        team_id,
        priority,
        sla_hours
    from taxonomy
)

select * from final
