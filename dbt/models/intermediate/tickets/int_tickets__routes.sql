{#-
  Where every handled contact should go and how urgent it is, decided without a person.

  The route, first source that has an answer: the intent two reviewers agreed on, mapped to its
  team by the taxonomy file (ml.intent_taxonomy) or else the routing seed; the team classifier (int_tickets__team_suggestions, learnt from the
  teams that finally handled past contacts); the intent of record through the seed; the
  entry queue's team; `ticket_default_team`. Beside it stay the team the intent implies
  (`intent_team`), the team a person chose at entry and the team that finally handled it, so
  the automatic and the manual routing can be compared.

  Priority comes from the taxonomy file's entry for the intent, else the seed row of the intent
  (`ticket_default_priority` without either) and is
  raised one level by the escalation rule in the `ticket_raise_priority_*` vars; a raised
  contact takes the shorter of the seed's SLA and the SLA of its new priority.
-#}
{%- set sla_by_priority = var('ticket_priority_sla_hours') -%}
{%- set raise_emotions = var('ticket_raise_priority_emotions') -%}

with

signals as (
    select * from {{ ref('int_tickets__signals') }}
),

suggestions as (
    select * from {{ ref('int_tickets__team_suggestions') }}
),

intents as (
    select * from {{ ref('fct_conversation_intents') }}
),

alerts as (
    select * from {{ ref('fct_emotion_alerts') }}
),

routing as (
    -- The company's taxonomy file (team, priority, SLA per intent) wins over the routing seed.
    -- A field the taxonomy sets replaces the seed's together with what depends on it: another team
    -- drops the seed team's category (the routed team's is used), another priority drops the seed's
    -- SLA (the priority's is used, `ticket_priority_sla_hours`); SLAs are whole hours, rounded up.
    select
        coalesce(taxonomy.intent, seed.intent) as intent,
        case when taxonomy.team_id is null or taxonomy.team_id = seed.team_id then seed.category end as category,
        coalesce(taxonomy.team_id, seed.team_id) as team_id,
        coalesce(taxonomy.priority, seed.priority) as priority,
        coalesce(
            ceil(taxonomy.sla_hours),
            case when taxonomy.priority is null or taxonomy.priority = seed.priority then seed.sla_hours end
        ) as sla_hours
    from {{ ref('ticket_routing') }} as seed
    full outer join {{ source('ml', 'intent_taxonomy') }} as taxonomy on seed.intent = taxonomy.intent
),

teams as (
    select * from {{ ref('stg_raw__teams') }}
),

joined as (
    select
        signals.*,
        intents.intent_of_record as intent,
        intents.intent_source,
        routing.team_id as intent_team,
        routing.category as intent_category,
        routing.priority as seed_priority,
        routing.sla_hours as seed_sla_hours,
        suggestions.suggested_team,
        suggestions.suggestion_margin,
        coalesce(alerts.escalate, false) as alert_escalated
    from signals
    left join intents on signals.conversation_id = intents.conversation_id
    left join routing on intents.intent_of_record = routing.intent
    left join suggestions on signals.conversation_id = suggestions.conversation_id
    left join alerts on signals.conversation_id = alerts.conversation_id
),

routed as (
    select
        *,
        case
            when intent_source = 'review' and intent_team is not null then intent_team
            when suggested_team is not null then suggested_team
            when intent_team is not null then intent_team
            when entry_team_id is not null then entry_team_id
            else '{{ var("ticket_default_team") }}'
        end as routed_team,
        case
            when intent_source = 'review' and intent_team is not null then 'reviewed intent'
            when suggested_team is not null then 'team classifier'
            when intent_team is not null then 'intent of record'
            when entry_team_id is not null then 'entry queue'
            else 'default team'
        end as route_source,
        coalesce(seed_priority, '{{ var("ticket_default_priority") }}') as base_priority,
        coalesce(
            {{ 'alert_escalated' if var('ticket_raise_priority_on_supervisor_alert') else 'false' }}
            {%- if raise_emotions | length > 0 %}
            or (
                last_customer_emotion in ('{{ raise_emotions | join("', '") }}')
                and last_customer_emotion_confidence >= {{ var('ticket_raise_priority_min_confidence') }}
            )
            {%- endif %},
            false
        ) as is_priority_raised
    from joined
),

prioritised as (
    select
        routed.*,
        case
            when is_priority_raised
                then 'P' || greatest(1, cast(substr(base_priority, 2) as integer) - 1)
            else base_priority
        end as priority
    from routed
),

final as (
    select
        prioritised.conversation_id,
        prioritised.customer_id,
        prioritised.channel,
        prioritised.language,
        prioritised.started_at,
        prioritised.ended_at,
        prioritised.started_date,
        prioritised.queue_id,
        prioritised.disposition,
        prioritised.is_abandoned,
        prioritised.is_transferred,
        prioritised.first_customer_at,
        prioritised.transfer_at,
        prioritised.agent_ticket_at,
        prioritised.needs_ticket,
        prioritised.ticket_reason,
        prioritised.intent,
        prioritised.intent_source,
        -- The owner's category: the intent's when the intent agrees with the route, else the
        -- routed team's (a ticket must not say "billing" while logistics owns it).
        case
            when prioritised.intent_team = prioritised.routed_team
                then coalesce(prioritised.intent_category, teams.category)
            else coalesce(teams.category, prioritised.intent_category)
        end as category,
        prioritised.base_priority,
        prioritised.is_priority_raised,
        prioritised.priority,
        cast(case
            {%- for p, hours in sla_by_priority.items() %}
            when prioritised.priority = '{{ p }}'
                and (prioritised.is_priority_raised or prioritised.seed_sla_hours is null)
                then least({{ hours }}, coalesce(prioritised.seed_sla_hours, {{ hours }}))
            {%- endfor %}
            else coalesce(prioritised.seed_sla_hours, {{ sla_by_priority[var('ticket_default_priority')] }})
        end as integer) as sla_hours,
        prioritised.routed_team,
        prioritised.route_source,
        prioritised.suggested_team,
        prioritised.suggestion_margin,
        prioritised.intent_team,
        prioritised.entry_team_id as entry_team,
        prioritised.final_team_id as final_team
    from prioritised
    left join teams on prioritised.routed_team = teams.team_id
)

select * from final
