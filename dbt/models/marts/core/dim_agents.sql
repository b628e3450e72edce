with

agents as (
    select * from {{ ref('stg_raw__agents') }}
),

teams as (
    select * from {{ ref('stg_raw__teams') }}
),

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

performance as (
    select
        agent_id,
        count(*) as handled_contacts,
        avg(handle_seconds) as avg_handle_seconds,
        avg(case when is_first_contact_resolution then 1 else 0 end) as fcr_rate,  -- integers: a double on both engines
        avg(csat) as avg_csat
    from conversations
    where agent_id is not null
    group by agent_id
),

final as (
    select
        agents.agent_id,
        agents.agent_name,
        agents.team_id,
        teams.team_name,
        teams.category as team_category,
        agents.languages,
        agents.hired_on,
        agents.site,
        coalesce(performance.handled_contacts, 0) as handled_contacts,
        performance.avg_handle_seconds,
        performance.fcr_rate,
        performance.avg_csat
    from agents
    left join teams using (team_id)
    left join performance using (agent_id)
)

select * from final
