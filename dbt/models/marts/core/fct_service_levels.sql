-- Service levels per conversation: its SLA targets (`sla_targets` seed, the most specific row), the waiting
-- and resolution times on the wall clock and in business hours (`business_hours` seed, holidays), and
-- whether each target was met. A contact counts as resolved when its ticket is (fct_tickets), or at its end
-- when it needed no ticket; an abandoned contact missed its first response and has no resolution target;
-- an open ticket still inside its target is pending (null), one past it has missed.
{%- set zone = var('business_timezone') %}
with

conversations as (
    select * from {{ ref('fct_conversations') }}
),

tickets as (
    select * from {{ ref('fct_tickets') }}
),

open_intervals as (
    select * from {{ ref('int_calendar__open_intervals') }}
),

targets as (
    select * from {{ ref('sla_targets') }}
),

data_end as (
    select max(coalesce(ended_at, started_at)) as data_as_of
    from conversations
),

first_tickets as (
    select
        conversation_id,
        min_by(resolved_at, created_at) as ticket_resolved_at
    from tickets
    group by conversation_id
),

contacts as (
    select
        conversations.conversation_id,
        conversations.started_date,
        conversations.channel,
        conversations.queue_id,
        conversations.team_id,
        conversations.agent_id,
        conversations.is_abandoned,
        conversations.started_at,
        coalesce(conversations.ended_at, conversations.started_at) as ended_at,
        conversations.first_response_seconds,
        {{ add_time('conversations.started_at', 'conversations.first_response_seconds', 'second') }} as first_response_at,
        first_tickets.conversation_id is not null as has_ticket,
        case
            when first_tickets.conversation_id is not null then first_tickets.ticket_resolved_at
            when not conversations.is_abandoned then coalesce(conversations.ended_at, conversations.started_at)
        end as resolved_at
    from conversations
    left join first_tickets on first_tickets.conversation_id = conversations.conversation_id
),

chosen_targets as (
    select
        contacts.conversation_id,
        targets.first_response_seconds as first_response_target_seconds,
        targets.resolution_hours as resolution_target_hours,
        targets.clock as sla_clock
    from contacts
    inner join targets
        on targets.queue_id in (contacts.queue_id, '*')
        and targets.channel in (contacts.channel, '*')
    qualify row_number() over (
        partition by contacts.conversation_id
        order by (targets.queue_id = '*')::int * 2 + (targets.channel = '*')::int
    ) = 1
),

spans as (
    -- The four spans of each contact timed in business hours, in UTC (a null end: no span, no seconds).
    {%- for span, end in [('first_response', 'contacts.first_response_at'), ('elapsed', 'contacts.ended_at'),
                          ('resolution', 'contacts.resolved_at'), ('open', 'data_end.data_as_of')] %}
    select
        contacts.conversation_id,
        '{{ span }}' as span,
        coalesce(contacts.queue_id, '*') as queue_id,
        {{ business_to_utc('contacts.started_at', zone) }} as from_utc,
        {{ business_to_utc(end, zone) }} as to_utc
    from contacts
    cross join data_end
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

business as (
    select
        spans.conversation_id,
        {%- for span in ['first_response', 'elapsed', 'resolution', 'open'] %}
        sum(case when spans.span = '{{ span }}' then {{ interval_overlap_seconds('spans.from_utc', 'spans.to_utc') }} end)
            as {{ span }}_business_seconds{{ ',' if not loop.last }}
        {%- endfor %}
    from spans
    inner join open_intervals
        on open_intervals.queue_id = spans.queue_id
        and open_intervals.opens_utc < spans.to_utc
        and open_intervals.closes_utc > spans.from_utc
    group by spans.conversation_id
),

timed as (
    select
        contacts.*,
        data_end.data_as_of,
        {{ elapsed_seconds('contacts.started_at', 'contacts.ended_at', zone) }} as elapsed_seconds,
        {{ elapsed_seconds('contacts.started_at', 'contacts.resolved_at', zone) }} as resolution_seconds,
        {{ elapsed_seconds('contacts.started_at', 'data_end.data_as_of', zone) }} as open_seconds,
        {%- for span in ['first_response', 'elapsed', 'resolution', 'open'] %}
        coalesce(business.{{ span }}_business_seconds, 0) as {{ span }}_business_seconds{{ ',' if not loop.last }}
        {%- endfor %}
    from contacts
    cross join data_end
    left join business on business.conversation_id = contacts.conversation_id
),

met as (
    -- Each target judged on both clocks (wall: every hour counts; business: the queue's open hours only).
    -- The same rules on both: an abandoned contact missed its first response; resolution counts resolved
    -- contacts, and an open ticket already past its target has missed.
    select
        timed.*,
        chosen_targets.sla_clock,
        chosen_targets.first_response_target_seconds,
        chosen_targets.resolution_target_hours,
        {%- for clock, part in [('wall', ''), ('business', '_business')] %}
        case
            when chosen_targets.sla_clock is null then null
            when timed.is_abandoned then false
            when timed.first_response_at is null then null
            else timed.first_response{{ part }}_seconds <= chosen_targets.first_response_target_seconds
        end as first_response_met_{{ clock }},
        case
            when chosen_targets.sla_clock is null or timed.is_abandoned then null
            when timed.resolved_at is not null
                then timed.resolution{{ part }}_seconds <= chosen_targets.resolution_target_hours * 3600
            when timed.open{{ part }}_seconds > chosen_targets.resolution_target_hours * 3600 then false
        end as resolution_met_{{ clock }}{{ ',' if not loop.last }}
        {%- endfor %}
    from timed
    left join chosen_targets on chosen_targets.conversation_id = timed.conversation_id
),

final as (
    select
        conversation_id,
        started_date,
        channel,
        queue_id,
        team_id,
        agent_id,
        has_ticket,
        is_abandoned,
        sla_clock,
        first_response_target_seconds,
        resolution_target_hours,
        first_response_seconds,
        case when first_response_at is not null then first_response_business_seconds end
            as first_response_business_seconds,
        elapsed_seconds,
        elapsed_business_seconds,
        resolved_at,
        resolution_seconds,
        case when resolved_at is not null then resolution_business_seconds end as resolution_business_seconds,
        -- on the target's own clock (the `clock` column of its sla_targets row)
        case sla_clock when 'business' then first_response_met_business else first_response_met_wall end
            as first_response_met,
        case sla_clock when 'business' then resolution_met_business else resolution_met_wall end as resolution_met,
        first_response_met_wall,
        first_response_met_business,
        resolution_met_wall,
        resolution_met_business
    from met
)

select * from final
