{#-
  How well contacts are routed, per day and handling team, from what the warehouse can observe.

  Manual routing is the queue a person (or the IVR menu a customer picked) sent the contact to;
  a contact later moved to another team is the evidence it was misrouted (a misroute nobody
  corrected stays invisible here, so this rate is a floor). Automatic routing is the route
  int_tickets__routes decides; it is compared with the team that finally handled the contact.
  Time to route: manual = until the transfer turn when there was one (else the contact start);
  automatic = the customer's first message, which the router reads. Time to ticket: agent
  tickets from the ticket turn, automatic ones from the contact end (fct_tickets).
  Ground truth is never read here; tests/test_tickets.py compares with it.
-#}

with

routes as (
    select * from {{ ref('int_tickets__routes') }}
),

tickets as (
    select * from {{ ref('fct_tickets') }}
),

contacts as (
    select
        started_date,
        final_team as team_id,
        conversation_id,
        entry_team <> final_team as manual_misrouted,
        routed_team <> final_team as auto_disagrees,
        route_source,
        coalesce({{ seconds_between('started_at', 'transfer_at') }}, 0) / 60.0 as manual_minutes_to_route,
        {{ seconds_between('started_at', 'first_customer_at') }} / 60.0 as auto_minutes_to_route,
        transfer_at is not null and entry_team <> final_team as corrected_by_transfer
    from routes
    where not coalesce(is_abandoned, false) and final_team is not null
),

contact_day as (
    select
        started_date,
        team_id,
        count(*) as handled_contacts,
        count(*) filter (where manual_misrouted) as manual_misrouted_contacts,
        count(*) filter (where auto_disagrees) as auto_misrouted_contacts,
        count(*) filter (where route_source = 'team classifier') as classifier_routed_contacts,
        count(*) filter (where route_source = 'reviewed intent') as review_routed_contacts,
        avg(manual_minutes_to_route) filter (where corrected_by_transfer) as manual_minutes_to_route_misrouted,
        avg(auto_minutes_to_route) as auto_minutes_to_route
    from contacts
    group by started_date, team_id
),

ticket_day as (
    select
        started_date,
        final_team as team_id,
        count(*) as tickets,
        count(*) filter (where created_by = 'agent') as agent_tickets,
        count(*) filter (where created_by = 'automatic') as automatic_tickets,
        count(*) filter (where not route_matches_final_team) as tickets_auto_misrouted,
        count(*) filter (where was_transferred_between_teams) as tickets_manual_misrouted,
        avg(minutes_contact_to_ticket) filter (where created_by = 'agent') as agent_minutes_to_ticket,
        avg(minutes_contact_to_ticket) filter (where created_by = 'automatic') as automatic_minutes_to_ticket,
        count(*) filter (where sla_breached) as sla_breaches
    from tickets
    group by started_date, final_team
),

final as (
    select
        contact_day.started_date,
        contact_day.team_id,
        contact_day.handled_contacts,
        contact_day.manual_misrouted_contacts,
        round(contact_day.manual_misrouted_contacts / contact_day.handled_contacts, 4) as manual_misroute_rate,
        contact_day.auto_misrouted_contacts,
        round(contact_day.auto_misrouted_contacts / contact_day.handled_contacts, 4) as auto_misroute_rate,
        round(1 - contact_day.auto_misrouted_contacts / contact_day.handled_contacts, 4) as auto_agreement_rate,
        contact_day.classifier_routed_contacts,
        contact_day.review_routed_contacts,
        round(contact_day.manual_minutes_to_route_misrouted, 2) as manual_minutes_to_route_misrouted,
        round(contact_day.auto_minutes_to_route, 2) as auto_minutes_to_route,
        coalesce(ticket_day.tickets, 0) as tickets,
        coalesce(ticket_day.agent_tickets, 0) as agent_tickets,
        coalesce(ticket_day.automatic_tickets, 0) as automatic_tickets,
        coalesce(ticket_day.tickets_auto_misrouted, 0) as tickets_auto_misrouted,
        coalesce(ticket_day.tickets_manual_misrouted, 0) as tickets_manual_misrouted,
        round(ticket_day.agent_minutes_to_ticket, 1) as agent_minutes_to_ticket,
        round(ticket_day.automatic_minutes_to_ticket, 1) as automatic_minutes_to_ticket,
        coalesce(ticket_day.sla_breaches, 0) as sla_breaches
    from contact_day
    left join ticket_day
        on contact_day.started_date = ticket_day.started_date
        and contact_day.team_id = ticket_day.team_id
)

select * from final
