{#-
  One ticket per contact that needs follow-up (int_tickets__signals), classified and routed
  automatically (int_tickets__routes), with its SLA clock.

  Created: when the agent opened it (the ticket turn), otherwise when the contact ended (the
  moment the whole conversation can be read). Assigned: at creation, since the route is decided
  by the automatic router with no queue in between. Resolved: when the same customer's next
  contact within `ticket_resolution_window_days` ends (after the ticket was created)
  without needing a ticket of its own (the customer came back and it was settled); open
  otherwise. "Now" for open tickets is the end of
  the data, not the wall clock, so a rebuild of the same data gives the same table.
-#}

with

routes as (
    select * from {{ ref('int_tickets__routes') }}
),

data_end as (
    select max(coalesce(ended_at, started_at)) as as_of from routes
),

tickets as (
    select
        *,
        coalesce(agent_ticket_at, ended_at, started_at) as created_at,
        case when agent_ticket_at is not null then 'agent' else 'automatic' end as created_by
    from routes
    where needs_ticket
),

resolutions as (
    -- The customer's first later contact inside the window that closed without a ticket.
    select
        tickets.conversation_id,
        later.conversation_id as resolved_by_conversation_id,
        coalesce(later.ended_at, later.started_at) as resolved_at
    from tickets
    inner join routes as later
        on later.customer_id = tickets.customer_id
        and later.started_at > tickets.started_at
        and coalesce(later.ended_at, later.started_at) >= tickets.created_at
        and later.started_at <= {{ add_time('tickets.created_at', var('ticket_resolution_window_days'), 'day') }}
        and not later.needs_ticket
        and not coalesce(later.is_abandoned, false)
    qualify row_number() over (
        partition by tickets.conversation_id order by later.started_at, later.conversation_id
    ) = 1
),

timed as (
    select
        tickets.*,
        {{ add_time('tickets.created_at', 'tickets.sla_hours', 'hour') }} as sla_due_at,
        resolutions.resolved_at,
        resolutions.resolved_by_conversation_id,
        data_end.as_of
    from tickets
    cross join data_end
    left join resolutions on tickets.conversation_id = resolutions.conversation_id
),

final as (
    select
        'TK-' || conversation_id as ticket_id,
        conversation_id,
        customer_id,
        channel,
        queue_id,
        language,
        started_date,
        started_at as contact_started_at,
        created_at,
        created_by,
        ticket_reason,
        created_at as assigned_at,
        resolved_at,
        resolved_by_conversation_id,
        case when resolved_at is null then 'open' else 'resolved' end as status,
        intent,
        intent_source,
        category,
        base_priority,
        is_priority_raised,
        priority,
        sla_hours,
        sla_due_at,
        coalesce(resolved_at, as_of) > sla_due_at as sla_breached,
        case
            when resolved_at is null then {{ round_half_up('cast(' ~ seconds_between('as_of', 'sla_due_at') ~ ' as double) / 3600', 1) }}
        end as hours_to_due,
        routed_team,
        route_source,
        intent_team,
        entry_team,
        final_team,
        routed_team = final_team as route_matches_final_team,
        entry_team <> final_team as was_transferred_between_teams,
        {{ round_half_up('cast(' ~ seconds_between('started_at', 'created_at') ~ ' as double) / 60', 1) }} as minutes_contact_to_ticket,
        as_of as data_as_of
    from timed
)

select * from final
