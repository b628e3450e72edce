with

conversations as (
    select * from {{ ref('int_conversations__enriched') }}
),

daily as (
    select
        started_date as kpi_date,
        channel,
        final_queue_id as queue_id,
        any_value(team_id) as team_id,
        count(*) as contacts,
        count(*) filter (where not is_abandoned) as handled_contacts,
        count(*) filter (where is_abandoned) as abandoned_contacts,
        sum(handle_seconds) filter (where not is_abandoned) as total_handle_seconds,
        count(handle_seconds) filter (where not is_abandoned) as timed_contacts,
        count(*) filter (where is_fcr_eligible) as fcr_eligible_contacts,
        count(*) filter (where is_first_contact_resolution) as fcr_contacts,
        count(*) filter (where is_transferred) as transferred_contacts,
        sum(contact_cost) as total_cost,
        sum(wait_seconds) filter (where channel = 'phone') as total_wait_seconds,
        count(csat) as csat_responses,
        sum(csat) as csat_sum,
        count(*) filter (where csat >= {{ var('csat_satisfied_min') }}) as csat_satisfied,
        count(nps) as nps_responses,
        count(*) filter (where nps >= 9) as nps_promoters,
        count(*) filter (where nps <= 6) as nps_detractors
    from conversations
    group by all
),

final as (
    select
        kpi_date,
        channel,
        queue_id,
        team_id,
        contacts,
        handled_contacts,
        abandoned_contacts,
        total_handle_seconds,
        timed_contacts,
        fcr_eligible_contacts,
        fcr_contacts,
        transferred_contacts,
        total_cost,
        total_wait_seconds,
        csat_responses,
        csat_sum,
        csat_satisfied,
        nps_responses,
        nps_promoters,
        nps_detractors,
        abandoned_contacts / contacts as abandonment_rate,
        total_handle_seconds / nullif(timed_contacts, 0) as avg_handle_seconds,
        fcr_contacts / nullif(fcr_eligible_contacts, 0) as fcr_rate,
        transferred_contacts / nullif(handled_contacts, 0) as transfer_rate,
        total_cost / contacts as cost_per_contact,
        csat_sum / nullif(csat_responses, 0) as csat_avg,
        100.0 * (nps_promoters - nps_detractors) / nullif(nps_responses, 0) as nps
    from daily
)

select * from final
